// Ingress throughput with the abuse defence of issue 13 (2 KiB, BENCH_CONNECTIONS connections):
//  - ingress-rspamd: every message scanned by a real rspamd (test-kit's startRspamd: Debian's
//    package, one normal worker, proxy off, network modules off) beside the same ingress
//    without it, and rspamd's own throughput on the same messages through its HTTP API
//    (/checkv2, the same requests in flight, through smtp-ingress's own client: the same request
//    headers, the same answer parsing): the target is Hopmail with rspamd at >= 80 % of rspamd alone. The three
//    take turns for BENCH_RSPAMD_ROUNDS rounds (the order rotated); each run prints the CPU per
//    message of rspamd's worker, smtp-ingress, PostgreSQL's backends, Redis (shared: an upper
//    bound) and the load generator, and the share of a core rspamd's worker got. From the CPU
//    figures, the machine bound: on `cores` idle cores, rspamd's one worker cannot pass one core
//    and everything together cannot pass them all; its ratio is what this machine allows.
//  - ingress-screening: greylisting (triplet already passed) and a DNSBL zone in the fake DNS
//    behind a warm dns-cache, against the same ingress without them; once with many messages
//    per connection, once with a new connection per message (the DNSBL look-up is per
//    connection). Both ingresses run at once and take turns for BENCH_SCREENING_ROUNDS rounds
//    (alternating which goes first); medians per mode. Target: the checks cost <= 10 %.
// Run alone: `pnpm exec node bench/ingress-abuse.ts [rspamd|screening]`.
import { availableParallelism, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { createTestDatabase, freePort, redisPrefix, startFakeDns, startRspamd, startServiceProcess, type ServiceProcess, type TestDatabase } from '@hopmail/test-kit';
import { createRspamdFilter } from '../services/smtp-ingress/src/adapters/rspamd.ts';
import { cpuOrZero, processes, procCpuMs, sumCpu } from './proc.ts';
import { smtpLoad } from './smtp-load.ts';
import { median } from './stats.ts';

process.env.DATABASE_URL ??= 'postgres://root@127.0.0.1:5432/postgres';
process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';

const num = (k: string, d: number) => Number(process.env[k] ?? d);
const SIZE = 2 * 1024;
const FROM = 'news@sender.bench';
const RCPT = 'user@bench.test';

/** Distinct 2 KiB messages (rspamd caches nothing per message, but the bytes differ as real mail does). */
function messages(n: number): string[] {
  const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. 0123456789 ABCDEFGHIJKLMN\r\n'.repeat(30);
  return Array.from({ length: n }, (_, i) => {
    const head = `From: Sender <${FROM}>\r\nTo: <${RCPT}>\r\nSubject: bench ${i}\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <abuse-${i}-${Date.now()}@sender.bench>\r\n\r\n`;
    return head + filler.slice(0, SIZE - head.length) + '\r\n';
  });
}

async function withDatabase<T>(fn: (db: TestDatabase, procs: ServiceProcess[]) => Promise<T>): Promise<T> {
  const db = await createTestDatabase();
  const procs: ServiceProcess[] = [];
  try {
    await db.pool.query(`INSERT INTO domains (name) VALUES ('bench.test')`);
    await db.pool.query(`INSERT INTO mailboxes (domain_id, local_part, address, password_hash) SELECT id, 'user', '${RCPT}', 'x' FROM domains WHERE name = 'bench.test'`);
    return await fn(db, procs);
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await db.drop();
  }
}

const common = () => ({ LOG_LEVEL: 'info', NODE_ENV: 'test', REDIS_URL: process.env.REDIS_URL!, REDIS_PREFIX: redisPrefix(), HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0' });

async function startIngress(db: TestDatabase, procs: ServiceProcess[], env: Record<string, string>) {
  const port = await freePort();
  const p = startServiceProcess(
    'smtp-ingress',
    { ...common(), DATABASE_URL: db.url, SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_REVERSE_LOOKUP: 'false', SMTP_MAX_CONNECTIONS: '1000', SMTP_MAX_CONNECTIONS_PER_IP: '1000', INBOUND_AUTH: 'false', ...env },
    { keepLogs: false },
  );
  procs.push(p);
  await p.ready;
  return { p, port };
}

async function load(port: number, pid: number, bodies: string[], count: number, connections: number, newConnectionPerMessage = false) {
  const cpu0 = procCpuMs(pid);
  const r = await smtpLoad({ port, connections, count, size: SIZE, rcpt: RCPT, from: FROM, newConnectionPerMessage, message: (seq) => bodies[seq % bodies.length]! + '.\r\n' });
  return { msgPerSecond: Math.round(r.sent / r.seconds), failed: r.failed, ingressCpuMsPerMessage: Number(((procCpuMs(pid) - cpu0) / Math.max(1, r.sent)).toFixed(3)) };
}

/** The HTTP client both ways: smtp-ingress's (adapters/rspamd.ts). */
const SCAN_CONCURRENCY_NOTE = "one scan per SMTP connection in flight; rspamd alone: the same number of requests in flight, through smtp-ingress's own client (rspamd 3.4 answers Connection: close)";

/** rspamd alone: `count` scans, `connections` at a time, through smtp-ingress's rspamd client (the same request headers, the same answer parsing). */
async function rspamdDirect(url: string, bodies: string[], count: number, connections: number) {
  const filter = createRspamdFilter({ url, maxSize: 50 * 1024 * 1024 });
  let next = 0;
  let failed = 0;
  const one = async (seq: number) => {
    // The octets smtp-ingress sends: its Received: field above the message, latin1 as it arrives.
    const body = Buffer.from(`Received: from client.bench ([127.0.0.1]) by ingress.bench with ESMTP id bench${seq}; ${new Date().toUTCString()}\r\n${bodies[seq % bodies.length]!}`, 'latin1');
    await filter.check(body, { queueId: `bench${seq}`, ip: '127.0.0.1', helo: 'load.test', hostname: null, mailFrom: FROM, recipients: [RCPT], user: null, auth: null }, AbortSignal.timeout(30_000));
  };
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < count) {
        const seq = next++;
        await one(seq).catch(() => failed++);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { sent: count - failed, failed, seconds };
}

/** Every process whose parent is `ppid` and whose command line starts with `prefix` (rspamd's workers). */
const childPids = (ppid: number, prefix: string) => processes((p) => p.ppid === ppid && p.cmdline.startsWith(prefix));

/** PostgreSQL's backends serving database `name` (their process titles name it), at this moment. */
const postgresBackends = (name: string) => processes((p) => p.cmdline.startsWith('postgres: ') && p.cmdline.includes(` ${name} `));

/**
 * CPU time (ms) of each party while `run` goes: rspamd's normal worker, rspamd's other
 * processes, smtp-ingress, the PostgreSQL backends of the bench database (pool connections
 * come and go: a backend born during the run counts from zero), this process (the load
 * generator: SMTP client or rspamd client) and redis-server (shared with whatever else runs
 * on the machine: an upper bound). /proc counts in ticks of 10 ms.
 */
async function metered(parties: { rspamdWorkers: number[]; rspamdOthers: number[]; ingressPid?: number; database: string; redisPid?: number }, run: () => Promise<{ sent: number; failed: number; seconds: number }>) {
  const pg0 = new Map(postgresBackends(parties.database).map((pid) => [pid, cpuOrZero(pid)]));
  const before = { worker: sumCpu(parties.rspamdWorkers), others: sumCpu(parties.rspamdOthers), ingress: parties.ingressPid ? cpuOrZero(parties.ingressPid) : 0, redis: parties.redisPid ? cpuOrZero(parties.redisPid) : 0, client: process.cpuUsage() };
  const r = await run();
  const pg = postgresBackends(parties.database).reduce((n, pid) => n + cpuOrZero(pid) - (pg0.get(pid) ?? 0), 0);
  const client = process.cpuUsage(before.client);
  const per = (ms: number) => Number((ms / Math.max(1, r.sent)).toFixed(3));
  const workerMs = sumCpu(parties.rspamdWorkers) - before.worker;
  return {
    msgPerSecond: Math.round(r.sent / r.seconds),
    failed: r.failed,
    /** Share of one core rspamd's normal worker got (1 = its limit: one worker is one thread). */
    rspamdWorkerCores: Number((workerMs / 1000 / r.seconds).toFixed(2)),
    cpuMsPerMessage: {
      rspamdWorker: per(workerMs),
      rspamdOthers: per(sumCpu(parties.rspamdOthers) - before.others),
      smtpIngress: per(parties.ingressPid ? cpuOrZero(parties.ingressPid) - before.ingress : 0),
      postgres: per(pg),
      redisShared: per(parties.redisPid ? cpuOrZero(parties.redisPid) - before.redis : 0),
      loadGenerator: per((client.user + client.system) / 1000),
    },
  };
}

type Metered = Awaited<ReturnType<typeof metered>>;

/**
 * What the CPU figures allow on an otherwise idle machine of `cores`: rspamd's single worker
 * cannot pass one core (1000 / its ms per scan), and everything on the path together cannot
 * pass `cores` (cores × 1000 / the sum of everyone's ms per message, load generator included).
 */
function machineBound(cpu: Metered['cpuMsPerMessage'], cores: number) {
  const total = cpu.rspamdWorker + cpu.rspamdOthers + cpu.smtpIngress + cpu.postgres + cpu.redisShared + cpu.loadGenerator;
  const byWorker = 1000 / Math.max(0.001, cpu.rspamdWorker);
  const byMachine = (cores * 1000) / Math.max(0.001, total);
  return { msgPerSecond: Math.round(Math.min(byWorker, byMachine)), limitedBy: byWorker <= byMachine ? 'rspamd worker (one core)' : `all ${cores} cores`, cpuMsPerMessage: Number(total.toFixed(3)) };
}

export async function benchIngressRspamd() {
  const settings = {
    connections: num('BENCH_CONNECTIONS', 50),
    count: num('BENCH_RSPAMD_MESSAGES', 3000),
    rounds: num('BENCH_RSPAMD_ROUNDS', 5),
    size: SIZE,
    cores: availableParallelism(),
    scanConcurrency: SCAN_CONCURRENCY_NOTE,
    // How smtp-ingress and the load generator reach rspamd: TCP as in the compose file and the
    // Kubernetes base (its own service), or BENCH_RSPAMD_TRANSPORT=unix (RSPAMD_URL=unix:/path, rspamd beside the ingress).
    transport: process.env.BENCH_RSPAMD_TRANSPORT === 'unix' ? 'unix' : 'tcp',
  };
  const bodies = messages(200);
  const rspamd = await startRspamd();
  const rspamdUrl = settings.transport === 'tcp' ? rspamd.url : rspamd.unixUrl;
  try {
    return await withDatabase(async (db, procs) => {
      // One normal worker (test-kit's configuration, proxy off) serves both ways: the same rspamd, the same rules.
      const rspamdWorkers = childPids(rspamd.pid, 'rspamd: normal process');
      const rspamdOthers = [rspamd.pid, ...childPids(rspamd.pid, 'rspamd: ').filter((p) => !rspamdWorkers.includes(p))];
      const database = new URL(db.url).pathname.slice(1);
      const redisPort = new URL(process.env.REDIS_URL!).port || '6379';
      const redisPid = processes((p) => p.cmdline.startsWith('redis-server') && p.cmdline.includes(`:${redisPort}`))[0];
      // Both ingresses run side by side and take turns with rspamd alone, the order rotated
      // each round: on a small machine shared with other work the load drifts (see ingress-screening).
      const scanned = await startIngress(db, procs, { RSPAMD_URL: rspamdUrl });
      const plain = await startIngress(db, procs, {});
      const parties = { rspamdWorkers, rspamdOthers, database, redisPid };
      const modes = {
        rspamdAlone: () => metered(parties, () => rspamdDirect(rspamdUrl, bodies, settings.count, settings.connections)),
        withRspamd: () => metered({ ...parties, ingressPid: scanned.p.child.pid! }, () => smtp(scanned.port, bodies, settings.count, settings.connections)),
        withoutRspamd: () => metered({ ...parties, ingressPid: plain.p.child.pid! }, () => smtp(plain.port, bodies, settings.count, settings.connections)),
      };
      await rspamdDirect(rspamdUrl, bodies, 300, 10);
      await smtp(scanned.port, bodies, 300, 10);
      await smtp(plain.port, bodies, 300, 10);
      const names = Object.keys(modes) as (keyof typeof modes)[];
      const runs: Record<keyof typeof modes, Metered[]> = { rspamdAlone: [], withRspamd: [], withoutRspamd: [] };
      const loadBefore = loadavg()[0]!;
      for (let round = 0; round < settings.rounds; round++) {
        for (let i = 0; i < names.length; i++) {
          const which = names[(i + round) % names.length]!;
          runs[which].push(await modes[which]());
        }
      }
      const loadAfter = loadavg()[0]!;
      const actions = await db.pool.query<{ action: string; n: number }>(`SELECT spam->>'action' AS action, count(*)::int AS n FROM messages GROUP BY 1`);
      const summary = (rs: Metered[]) => {
        const cpu = Object.fromEntries(Object.keys(rs[0]!.cpuMsPerMessage).map((k) => [k, Number(median(rs.map((r) => r.cpuMsPerMessage[k as keyof Metered['cpuMsPerMessage']])).toFixed(3))])) as Metered['cpuMsPerMessage'];
        return {
          msgPerSecond: median(rs.map((r) => r.msgPerSecond)),
          rounds: rs.map((r) => r.msgPerSecond),
          failed: rs.reduce((n, r) => n + r.failed, 0),
          rspamdWorkerCores: Number(median(rs.map((r) => r.rspamdWorkerCores)).toFixed(2)),
          cpuMsPerMessage: cpu,
        };
      };
      const alone = summary(runs.rspamdAlone);
      const withRspamd = summary(runs.withRspamd);
      const boundAlone = machineBound(alone.cpuMsPerMessage, settings.cores);
      const boundWith = machineBound(withRspamd.cpuMsPerMessage, settings.cores);
      const share = (a: number, b: number) => Number((a / Math.max(1, b)).toFixed(2));
      return {
        name: 'ingress-rspamd',
        settings,
        rspamdWorkers: rspamdWorkers.length,
        loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number(loadAfter.toFixed(2)) },
        rspamdAlone: alone,
        withRspamd,
        withoutRspamd: summary(runs.withoutRspamd),
        withRspamdShareOfRspamdAlone: share(withRspamd.msgPerSecond, alone.msgPerSecond),
        perRound: runs.withRspamd.map((r, i) => share(r.msgPerSecond, runs.rspamdAlone[i]!.msgPerSecond)),
        medianOfRounds: median(runs.withRspamd.map((r, i) => share(r.msgPerSecond, runs.rspamdAlone[i]!.msgPerSecond))),
        // The same ratio as the CPU figures allow on this machine idle: what "rspamd's own limit" can mean here.
        machineBound: { rspamdAlone: boundAlone, withRspamd: boundWith, share: share(boundWith.msgPerSecond, boundAlone.msgPerSecond) },
        rspamdActions: Object.fromEntries(actions.rows.map((r) => [r.action ?? 'none', r.n])),
      };
    });
  } finally {
    await rspamd.stop();
  }
}

/** The SMTP load of the ingress cells (the run shape metered() takes). */
async function smtp(port: number, bodies: string[], count: number, connections: number) {
  const r = await smtpLoad({ port, connections, count, size: SIZE, rcpt: RCPT, from: FROM, message: (seq) => bodies[seq % bodies.length]! + '.\r\n' });
  return { sent: r.sent, failed: r.failed, seconds: r.seconds };
}

export async function benchIngressScreening() {
  const settings = { connections: num('BENCH_CONNECTIONS', 50), count: num('BENCH_SCREENING_MESSAGES', 5000), size: SIZE, rounds: num('BENCH_SCREENING_ROUNDS', 5) };
  const bodies = messages(200);
  // A DNSBL zone: 127.0.0.2 is listed (the standard test entry), our client 127.0.0.1 is not (NXDOMAIN, cached negatively).
  const fake = await startFakeDns({
    host: '127.0.0.1',
    records: [
      { name: '2.0.0.127.bl.bench', type: 'A', ttl: 3600, data: '127.0.0.2' },
      { name: 'bl.bench', type: 'SOA', ttl: 3600, data: { mname: 'ns.bench', rname: 'h.bench', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 3600 } },
    ],
  });
  try {
    return await withDatabase(async (db, procs) => {
      const dnsPort = await freePort();
      const dns = startServiceProcess('dns-cache', { ...common(), DNS_HOST: '127.0.0.1', DNS_PORT: String(dnsPort), DNS_UPSTREAMS: `${fake.host}:${fake.port}` }, { keepLogs: false });
      procs.push(dns);
      await dns.ready;
      const screening = { GREYLIST_ENABLED: 'true', GREYLIST_DELAY_MS: '0', GREYLIST_CLIENT_PASSES: '0', DNSBL_SITES: 'bl.bench', DNS_SERVERS: `127.0.0.1:${dnsPort}` };
      // Both processes run side by side and take turns, each round in the other order: on a
      // small machine shared with other work the load drifts, and a with/without pair measured
      // one after the other (as this cell did at first) mostly measured the drift.
      const on = await startIngress(db, procs, screening);
      const off = await startIngress(db, procs, {});
      // The triplet's first attempt is greylisted; with no delay the next passes and it is known from then on.
      await smtpLoad({ port: on.port, connections: 1, count: 1, size: SIZE, rcpt: RCPT, from: FROM });
      for (const t of [on, off]) {
        await load(t.port, t.p.child.pid!, bodies, 300, 10);
        await load(t.port, t.p.child.pid!, bodies, 100, 10, true);
      }
      type Run = Awaited<ReturnType<typeof load>>;
      const runs = { on: { many: [] as Run[], perConnection: [] as Run[] }, off: { many: [] as Run[], perConnection: [] as Run[] } };
      const loadBefore = loadavg()[0]!;
      const upstream0 = fake.queries.length;
      for (let round = 0; round < settings.rounds; round++) {
        const order = round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
        for (const which of order) {
          const t = which === 'on' ? on : off;
          runs[which].many.push(await load(t.port, t.p.child.pid!, bodies, settings.count, settings.connections));
          runs[which].perConnection.push(await load(t.port, t.p.child.pid!, bodies, Math.round(settings.count / 2), settings.connections, true));
        }
      }
      const loadAfter = loadavg()[0]!;
      const summary = (rs: Run[]) => ({
        msgPerSecond: median(rs.map((r) => r.msgPerSecond)),
        rounds: rs.map((r) => r.msgPerSecond),
        failed: rs.reduce((n, r) => n + r.failed, 0),
        ingressCpuMsPerMessage: median(rs.map((r) => r.ingressCpuMsPerMessage)),
      });
      const withChecks = { manyPerConnection: summary(runs.on.many), newConnectionPerMessage: summary(runs.on.perConnection), upstreamQueries: fake.queries.length - upstream0 };
      const withoutChecks = { manyPerConnection: summary(runs.off.many), newConnectionPerMessage: summary(runs.off.perConnection) };
      const cost = (a: number, b: number) => Number((1 - a / Math.max(1, b)).toFixed(3));
      // The same per round (each round's pair ran back to back), whose median is steadier than the ratio of medians.
      const roundCosts = (a: Run[], b: Run[]) => a.map((r, i) => cost(r.msgPerSecond, b[i]!.msgPerSecond));
      return {
        name: 'ingress-screening',
        settings,
        loadAverage: { before: Number(loadBefore.toFixed(2)), after: Number(loadAfter.toFixed(2)) },
        withChecks,
        withoutChecks,
        throughputCost: {
          manyPerConnection: cost(withChecks.manyPerConnection.msgPerSecond, withoutChecks.manyPerConnection.msgPerSecond),
          newConnectionPerMessage: cost(withChecks.newConnectionPerMessage.msgPerSecond, withoutChecks.newConnectionPerMessage.msgPerSecond),
          perRound: { manyPerConnection: roundCosts(runs.on.many, runs.off.many), newConnectionPerMessage: roundCosts(runs.on.perConnection, runs.off.perConnection) },
          medianOfRounds: { manyPerConnection: median(roundCosts(runs.on.many, runs.off.many)), newConnectionPerMessage: median(roundCosts(runs.on.perConnection, runs.off.perConnection)) },
        },
        cpuCostMsPerMessage: {
          manyPerConnection: Number((withChecks.manyPerConnection.ingressCpuMsPerMessage - withoutChecks.manyPerConnection.ingressCpuMsPerMessage).toFixed(3)),
          newConnectionPerMessage: Number((withChecks.newConnectionPerMessage.ingressCpuMsPerMessage - withoutChecks.newConnectionPerMessage.ingressCpuMsPerMessage).toFixed(3)),
        },
      };
    });
  } finally {
    await fake.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const which = process.argv[2];
  if (which !== 'screening') process.stdout.write(JSON.stringify(await benchIngressRspamd()) + '\n');
  if (which !== 'rspamd') process.stdout.write(JSON.stringify(await benchIngressScreening()) + '\n');
  process.exit(0);
}
