// Ingress throughput with inbound authentication on (issue 12): signed 2 KiB messages (an
// Ed25519 and an RSA-2048 DKIM signature, as Hopmail itself sends) from a domain publishing
// SPF, DKIM and DMARC p=reject, over BENCH_CONNECTIONS connections, DNS through a warm
// dns-cache in front of the fake DNS. The same messages against an ingress with the checks
// off give the figure to compare with; the two take turns for BENCH_AUTH_ROUNDS rounds
// (default 3) of BENCH_AUTH_MESSAGES / rounds messages (default 15,000), medians reported.
// BENCH_AUTH_WORKERS sets INBOUND_AUTH_WORKERS (default: the service's own).
// Run alone: `pnpm exec node bench/ingress-auth.ts`.
import { createPrivateKey } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { dkimRecordValue, generateDkimKey, signDkim } from '@hopmail/sender-auth';
import { createTestDatabase, freePort, redisPrefix, startFakeDns, startServiceProcess, type ServiceProcess } from '@hopmail/test-kit';
import { procCpuMs } from './proc.ts';
import { smtpLoad } from './smtp-load.ts';
import { median } from './stats.ts';

process.env.DATABASE_URL ??= 'postgres://root@127.0.0.1:5432/postgres';
process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';

export interface BenchIngressAuthResult {
  name: 'ingress-auth';
  settings: { connections: number; count: number; size: number; distinctMessages: number; rounds: number };
  /** accepted+committed per second (the median of the rounds), checks on / off */
  withAuth: { msgPerSecond: number; rounds: number[]; failed: number; dmarcPass: number; checked: number; cpuMsPerMessage: CpuPerMessage };
  withoutAuth: { msgPerSecond: number; rounds: number[]; failed: number; cpuMsPerMessage: CpuPerMessage };
  /** questions that reached the fake DNS during the measured run with checks on (dns-cache warm: 0 expected) */
  upstreamQueries: number;
}

/**
 * CPU time (user + system, every thread) per accepted message during the measured run: the
 * figure to compare on a shared machine, where msg/s moves with the neighbours' load.
 */
export interface CpuPerMessage {
  ingress: number;
  dnsCache: number;
}

const DOMAIN = 'sender.bench';
const FROM = `news@${DOMAIN}`;

export async function benchIngressAuth(opts: { connections?: number; count?: number } = {}): Promise<BenchIngressAuthResult> {
  const num = (k: string, d: number) => Number(process.env[k] ?? d);
  const settings = { connections: opts.connections ?? num('BENCH_CONNECTIONS', 50), count: opts.count ?? num('BENCH_AUTH_MESSAGES', 15_000), size: 2 * 1024, distinctMessages: 200, rounds: num('BENCH_AUTH_ROUNDS', 3) };
  const rsa = await generateDkimKey('rsa', 2048);
  const ed = await generateDkimKey('ed25519');
  const fake = await startFakeDns({
    host: '127.0.0.1',
    records: [
      { name: DOMAIN, type: 'TXT', ttl: 3600, data: 'v=spf1 ip4:127.0.0.1 -all' },
      { name: `rsa._domainkey.${DOMAIN}`, type: 'TXT', ttl: 3600, data: dkimRecordValue('rsa', rsa.publicKey) },
      { name: `ed._domainkey.${DOMAIN}`, type: 'TXT', ttl: 3600, data: dkimRecordValue('ed25519', ed.publicKey) },
      { name: `_dmarc.${DOMAIN}`, type: 'TXT', ttl: 3600, data: 'v=DMARC1; p=reject' },
      { name: 'bench', type: 'SOA', ttl: 3600, data: { mname: 'ns.bench', rname: 'h.bench', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 3600 } },
    ],
  });
  // Signed once, ahead of the run: the load generator must not spend the machine's cores signing.
  const keys = [
    { domain: DOMAIN, selector: 'ed', algorithm: 'ed25519' as const, privateKey: createPrivateKey(ed.privatePem) },
    { domain: DOMAIN, selector: 'rsa', algorithm: 'rsa' as const, privateKey: createPrivateKey(rsa.privatePem) },
  ];
  const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. 0123456789 ABCDEFGHIJKLMN\r\n'.repeat(30);
  const messages = Array.from({ length: settings.distinctMessages }, (_, i) => {
    const head = `From: <${FROM}>\r\nTo: <user@bench.test>\r\nSubject: bench ${i}\r\nDate: ${new Date().toUTCString()}\r\nMessage-ID: <auth-${i}-${Date.now()}@${DOMAIN}>\r\n\r\n`;
    const raw = Buffer.from(head + filler.slice(0, settings.size - head.length - 400) + '\r\n');
    return signDkim(raw, keys) + raw.toString('latin1') + '.\r\n';
  });

  const db = await createTestDatabase();
  const procs: ServiceProcess[] = [];
  try {
    await db.pool.query(`INSERT INTO domains (name) VALUES ('bench.test')`);
    await db.pool.query(`INSERT INTO mailboxes (domain_id, local_part, address, password_hash) SELECT id, 'user', 'user@bench.test', 'x' FROM domains WHERE name = 'bench.test'`);
    const dnsPort = await freePort();
    const common = { LOG_LEVEL: 'info', NODE_ENV: 'test', REDIS_URL: process.env.REDIS_URL!, REDIS_PREFIX: redisPrefix(), HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0' };
    const dns = startServiceProcess('dns-cache', { ...common, DNS_HOST: '127.0.0.1', DNS_PORT: String(dnsPort), DNS_UPSTREAMS: `${fake.host}:${fake.port}` }, { keepLogs: false });
    procs.push(dns);
    await dns.ready;
    const ingress = async (auth: boolean) => {
      const port = await freePort();
      const p = startServiceProcess(
        'smtp-ingress',
        { ...common, DATABASE_URL: db.url, SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_REVERSE_LOOKUP: 'false', SMTP_MAX_CONNECTIONS_PER_IP: '1000', INBOUND_AUTH: String(auth), DNS_SERVERS: `127.0.0.1:${dnsPort}`, ...(process.env.BENCH_AUTH_WORKERS ? { INBOUND_AUTH_WORKERS: process.env.BENCH_AUTH_WORKERS } : {}) },
        { keepLogs: false },
      );
      procs.push(p);
      await p.ready;
      return { p, port };
    };
    const run = async (p: ServiceProcess, port: number, count: number, connections: number) => {
      const cpu = () => [procCpuMs(p.child.pid!), procCpuMs(dns.child.pid!)] as const;
      const before = cpu();
      const r = await smtpLoad({ port, connections, count, size: settings.size, rcpt: 'user@bench.test', from: FROM, message: (seq) => messages[seq % messages.length]! });
      const after = cpu();
      const per = (i: 0 | 1) => Number(((after[i] - before[i]) / Math.max(1, r.sent)).toFixed(3));
      return { ...r, cpuMsPerMessage: { ingress: per(0), dnsCache: per(1) } };
    };

    // Both ingresses run side by side (the idle one costs nothing) and take turns for `rounds`
    // rounds of a third of the messages each, the order swapped every round: one run of each
    // moved by a fifth from one run to the next on this shared 2-core machine (1,178–1,431
    // msg/s with the checks on), so the medians of the rounds are reported, with the rounds.
    const on = await ingress(true);
    const off = await ingress(false);
    await run(on.p, on.port, 500, 10); // warm-up: JIT, pools, and dns-cache's cache
    await run(off.p, off.port, 500, 10);
    const before = fake.queries.length;
    const rounds: { on: Awaited<ReturnType<typeof run>>[]; off: Awaited<ReturnType<typeof run>>[] } = { on: [], off: [] };
    const perRound = Math.ceil(settings.count / settings.rounds);
    for (let i = 0; i < settings.rounds; i++) {
      for (const which of i % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const t = which === 'on' ? on : off;
        rounds[which].push(await run(t.p, t.port, perRound, settings.connections));
      }
    }
    const upstreamQueries = fake.queries.length - before;
    const checked = await db.pool.query<{ n: number; pass: number }>(`SELECT count(*)::int AS n, count(*) FILTER (WHERE auth_results->'dmarc'->>'result' = 'pass')::int AS pass FROM messages WHERE auth_results IS NOT NULL`);
    const summary = (rs: Awaited<ReturnType<typeof run>>[]) => {
      const rates = rs.map((r) => Math.round(r.sent / r.seconds));
      const sent = rs.reduce((n, r) => n + r.sent, 0);
      const cpu = (k: keyof CpuPerMessage) => Number((rs.reduce((n, r) => n + r.cpuMsPerMessage[k] * r.sent, 0) / Math.max(1, sent)).toFixed(3));
      return { msgPerSecond: median(rates), rounds: rates, failed: rs.reduce((n, r) => n + r.failed, 0), cpuMsPerMessage: { ingress: cpu('ingress'), dnsCache: cpu('dnsCache') } };
    };
    return {
      name: 'ingress-auth',
      settings,
      withAuth: { ...summary(rounds.on), dmarcPass: checked.rows[0]!.pass, checked: checked.rows[0]!.n },
      withoutAuth: summary(rounds.off),
      upstreamQueries,
    };
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await db.drop();
    await fake.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(JSON.stringify(await benchIngressAuth()) + '\n');
  process.exit(0);
}
