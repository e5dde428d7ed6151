// Outbound relay benchmark: messages/s from committed rows to a fake MX that accepts
// everything (its own database, fake DNS and fake MX on 127.0.0.x; the relay runs as its own
// process, as `pnpm start` runs it). Run alone: `pnpm exec node bench/outbound-relay.ts`
// [--messages N] [--size BYTES] [--domains N] [--concurrency N] [--signing] [--mta-sts]
// [--alternate PHASES]: one relay process, PHASES rounds of N messages each, unsigned and
// DKIM-signed in turn (A B A B …), for a signed/unsigned comparison on a busy machine.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { insertMessage } from '@hopmail/db';
import { generateDkimKey, loadKek, sealPrivateKey } from '@hopmail/sender-auth';
import { newMessageId } from '@hopmail/mail';
import { createProducer } from '@hopmail/queue';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, freePort, redisPrefix, startFakeDns, startFakeMx, startServiceProcess } from '@hopmail/test-kit';

export interface BenchOutboundRelayOptions {
  messages?: number;
  messageBytes?: number;
  /** Destination domains (all served by the same fake MX host). */
  domains?: number;
  /** RELAY_CONCURRENCY and RELAY_MAX_CONNECTIONS_PER_HOST of the relay. */
  concurrency?: number;
  /** DKIM-sign every message with an Ed25519 and an RSA-2048 key of the From: domain. */
  signing?: boolean;
  /** Rounds of `messages` each, unsigned and signed in turn, through one relay process (keys as with `signing`). */
  alternate?: number;
  /**
   * Every domain under an `enforce` MTA-STS policy (already cached in PostgreSQL), the MX
   * offering a certificate of a test CA the relay trusts: verified TLS on every session.
   */
  mtaSts?: boolean;
  log?: (line: string) => void;
}

export interface BenchOutboundRelayResult {
  name: 'outbound-relay' | 'outbound-relay-signed' | 'outbound-relay-mta-sts' | 'outbound-relay-alternate';
  messages: number;
  messageBytes: number;
  concurrency: number;
  seconds: number;
  messagesPerSecond: number;
  mxConnections: number;
  /** CPU time (user + system) of the relay process per message delivered, every thread, from /proc/<pid>/stat. */
  relayCpuMsPerMessage: number;
  /** The same for its main thread alone (the event loop every job shares; /proc/<pid>/task/<pid>/stat). */
  relayMainThreadCpuMsPerMessage: number;
  /** --alternate: each round's figures, in order. */
  rounds?: { signed: boolean; messagesPerSecond: number; relayCpuMsPerMessage: number; relayMainThreadCpuMsPerMessage: number; load: string }[];
}

/** utime + stime of a process (or of one of its threads) in ms (Linux: /proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number, thread?: number): number {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) in parentheses; utime and stime are 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

export async function benchOutboundRelay(opts: BenchOutboundRelayOptions = {}): Promise<BenchOutboundRelayResult> {
  process.env.DATABASE_URL ??= 'postgres://root@127.0.0.1:5432/postgres';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  const count = opts.messages ?? 2000;
  const size = opts.messageBytes ?? 2048;
  const domains = opts.domains ?? 10;
  const concurrency = opts.concurrency ?? 32;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const kek = Buffer.alloc(32, 1).toString('base64');

  const db = await createTestDatabase();
  const prefix = redisPrefix();
  const sts = opts.mtaSts ? (() => {
    const ca = createSelfSignedCertificate({ names: ['Hopmail Bench CA'], ca: true, days: 2 });
    const leaf = createSelfSignedCertificate({ names: ['mx.bench.test'], issuer: ca });
    const caFile = join(mkdtempSync(join(tmpdir(), 'hopmail-bench-')), 'ca.pem');
    writeFileSync(caFile, ca.cert);
    return { caFile, tls: { key: leaf.key, cert: leaf.cert + ca.cert } };
  })() : null;
  const mx = await startFakeMx(['127.0.0.61'], sts ? { tls: { '127.0.0.61': sts.tls } } : {});
  const dns = await startFakeDns({
    host: '127.0.0.60',
    records: [
      { name: 'mx.bench.test', type: 'A', data: '127.0.0.61' },
      ...Array.from({ length: domains }, (_, i) => ({ name: `d${i}.bench.test`, type: 'MX' as const, data: { preference: 10, exchange: 'mx.bench.test' } })),
      ...(sts ? Array.from({ length: domains }, (_, i) => ({ name: `_mta-sts.d${i}.bench.test`, type: 'TXT' as const, data: 'v=STSv1; id=bench1;' })) : []),
    ],
  });
  if (sts) {
    // The policies as a previous fetch left them (the cell measures enforcement, not fetching).
    const body = 'version: STSv1\r\nmode: enforce\r\nmx: mx.bench.test\r\nmax_age: 86400\r\n';
    for (let i = 0; i < domains; i++) {
      await db.pool.query(
        `INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age, body, fetched_at, expires_at, checked_at, last_error)
         VALUES ($1, 'bench1', 'enforce', ARRAY['mx.bench.test'], 86400, $2, now(), now() + interval '1 day', now(), NULL)`,
        [`d${i}.bench.test`, body],
      );
    }
  }
  const signingKeys = opts.signing || !!opts.alternate;
  if (signingKeys) {
    // The keys admin-api would have made and activated for the sender's domain.
    const d = await db.pool.query<{ id: string }>(`INSERT INTO domains (name) VALUES ('local.test') RETURNING id`);
    for (const algorithm of ['ed25519', 'rsa'] as const) {
      const k = await generateDkimKey(algorithm);
      const selector = `bench-${algorithm}`;
      await db.pool.query(
        `INSERT INTO dkim_keys (domain_id, selector, algorithm, bits, public_key, private_key, kek_id, status, activated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', now())`,
        [d.rows[0]!.id, selector, algorithm, k.bits, k.publicKey, sealPrivateKey(loadKek(kek), { domain: 'local.test', selector }, k.privatePem), loadKek(kek).id],
      );
    }
  }
  const redis = queueRedis(baseUrls().redisUrl);
  const producer = createProducer('deliver-remote', redis, prefix);
  const relay = startServiceProcess('outbound-relay', {
    LOG_LEVEL: 'info', // start.done, which startServiceProcess waits for, is an info line
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: prefix,
    HEALTH_HOST: '127.0.0.1',
    HEALTH_PORT: String(await freePort()),
    RELAY_HOSTNAME: 'relay.bench.test',
    RELAY_PORT: String(mx.port),
    DNS_SERVERS: `${dns.host}:${dns.port}`,
    RELAY_ALLOW_LOOPBACK_MX: 'true',
    RELAY_CONCURRENCY: String(concurrency),
    RELAY_MAX_CONNECTIONS_PER_HOST: String(concurrency),
    // the scheduler only backs up the producer here
    RELAY_SCHEDULER_INTERVAL_MS: '10000',
    DKIM_KEY_ENCRYPTION_KEY: kek,
    ...(sts ? { RELAY_TLS_CA_FILE: sts.caFile } : {}),
  });
  try {
    await relay.ready;
    const body = 'x'.repeat(76) + '\r\n';
    const pid = relay.child.pid!;
    let delivered = 0;
    /** One round: `count` messages committed, then timed from the first job added to the last delivery. */
    const round = async (signed: boolean) => {
      const ids: { id: string; domain: string }[] = [];
      // Unsigned rounds of --alternate come from a domain without keys: the relay looks and signs nothing.
      const from = signed || !opts.alternate ? 'bench@local.test' : 'bench@unsigned.test';
      for (let i = 0; i < count; i++) {
        const id = newMessageId();
        const domain = `d${i % domains}.bench.test`;
        const head = `From: ${from}\r\nTo: r@${domain}\r\nSubject: bench ${i}\r\n\r\n`;
        const raw = Buffer.from(head + body.repeat(Math.max(1, Math.ceil((size - head.length) / body.length))));
        await insertMessage(db.pool, { id, raw, mailFrom: from, recipients: [`r@${domain}`] });
        ids.push({ id, domain });
      }
      await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE status = 'queued'`);
      log(`outbound-relay bench: ${count} messages of ${size} bytes to ${domains} domains, concurrency ${concurrency}${signed ? ', DKIM-signed (Ed25519 + RSA-2048)' : ''}`);
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      const firstTx = mx.transactions.length;
      const t0 = performance.now();
      const cpu0 = cpuMs(pid);
      const main0 = cpuMs(pid, pid);
      for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((x) => producer.add({ messageId: x.id, domain: x.domain })));
      for (;;) {
        const r = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients WHERE status = 'delivered'`);
        if (r.rows[0]!.n >= delivered + count) break;
        const bad = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients WHERE status IN ('bounced', 'failed', 'deferred')`);
        if (bad.rows[0]!.n > 0) throw new Error(`${bad.rows[0]!.n} recipients not delivered`);
        await new Promise((res) => setTimeout(res, 20));
      }
      delivered += count;
      const seconds = (performance.now() - t0) / 1000;
      const relayCpu = cpuMs(pid) - cpu0;
      const relayMainCpu = cpuMs(pid, pid) - main0;
      const both = mx.transactions.slice(firstTx).filter((t) => t.data.toString('latin1', 0, 2000).split('DKIM-Signature:').length === 3).length;
      if (both !== (signed ? count : 0)) throw new Error(`${signed ? count - both : both} messages arrived ${signed ? 'without' : 'with'} both signatures`);
      return { seconds, relayCpu, relayMainCpu, load };
    };
    const rounds: NonNullable<BenchOutboundRelayResult['rounds']> = [];
    let last = { seconds: 0, relayCpu: 0, relayMainCpu: 0, load: '' };
    for (let i = 0; i < (opts.alternate ?? 1); i++) {
      const signed = opts.alternate ? i % 2 === 1 : !!opts.signing;
      last = await round(signed);
      rounds.push({ signed, messagesPerSecond: Math.round(count / last.seconds), relayCpuMsPerMessage: Number((last.relayCpu / count).toFixed(2)), relayMainThreadCpuMsPerMessage: Number((last.relayMainCpu / count).toFixed(2)), load: last.load });
      if (opts.alternate) log(`round ${i + 1} ${JSON.stringify(rounds.at(-1))}`);
    }
    const { seconds, relayCpu, relayMainCpu } = last;
    if (sts) {
      const plain = mx.transactions.filter((t) => !t.secure).length;
      if (plain) throw new Error(`${plain} messages arrived without TLS`);
      const ok = await db.pool.query<{ n: number }>(`SELECT coalesce(sum(count), 0)::int AS n FROM tls_outcomes WHERE policy_type = 'sts' AND result_type = ''`);
      log(`outbound-relay-mta-sts: ${ok.rows[0]!.n} verified MTA-STS sessions counted`);
    }
    const result: BenchOutboundRelayResult = {
      name: opts.alternate ? 'outbound-relay-alternate' : opts.signing ? 'outbound-relay-signed' : opts.mtaSts ? 'outbound-relay-mta-sts' : 'outbound-relay',
      messages: count,
      messageBytes: size,
      concurrency,
      seconds: Number(seconds.toFixed(2)),
      messagesPerSecond: Math.round(count / seconds),
      mxConnections: Object.values(mx.connections).reduce((a, b) => a + b, 0),
      relayCpuMsPerMessage: Number((relayCpu / count).toFixed(2)),
      relayMainThreadCpuMsPerMessage: Number((relayMainCpu / count).toFixed(2)),
      ...(opts.alternate ? { rounds } : {}),
    };
    log(`${result.name}: ${result.messagesPerSecond} msg/s delivered to the fake MX (${result.mxConnections} SMTP connections), relay CPU ${result.relayCpuMsPerMessage} ms/message (main thread ${result.relayMainThreadCpuMsPerMessage})`);
    return result;
  } finally {
    await relay.kill('SIGTERM');
    await producer.close();
    await redis.quit();
    await mx.stop();
    await dns.stop();
    await db.drop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(`--${k}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const r = await benchOutboundRelay({ messages: arg('messages'), messageBytes: arg('size'), domains: arg('domains'), concurrency: arg('concurrency'), signing: process.argv.includes('--signing'), alternate: arg('alternate'), mtaSts: process.argv.includes('--mta-sts') });
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}
