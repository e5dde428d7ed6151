// Outbound relay benchmark: messages/s from committed rows to a fake MX that accepts
// everything (its own database, fake DNS and fake MX on 127.0.0.x; the relay runs as its own
// process, as `pnpm start` runs it). Run alone: `pnpm exec node bench/outbound-relay.ts`
// [--messages N] [--size BYTES] [--domains N] [--concurrency N].
import { pathToFileURL } from 'node:url';
import { insertMessage } from '@hopmail/db';
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
  log?: (line: string) => void;
}

export interface BenchOutboundRelayResult {
  name: 'outbound-relay';
  messages: number;
  messageBytes: number;
  concurrency: number;
  seconds: number;
  messagesPerSecond: number;
  mxConnections: number;
}

export async function benchOutboundRelay(opts: BenchOutboundRelayOptions = {}): Promise<BenchOutboundRelayResult> {
  process.env.DATABASE_URL ??= 'postgres://root@127.0.0.1:5432/postgres';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  const count = opts.messages ?? 2000;
  const size = opts.messageBytes ?? 2048;
  const domains = opts.domains ?? 10;
  const concurrency = opts.concurrency ?? 32;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));

  const db = await createTestDatabase();
  const prefix = redisPrefix();
  const mx = await startFakeMx(['127.0.0.61']);
  const dns = await startFakeDns({
    host: '127.0.0.60',
    records: [
      { name: 'mx.bench.test', type: 'A', data: '127.0.0.61' },
      ...Array.from({ length: domains }, (_, i) => ({ name: `d${i}.bench.test`, type: 'MX' as const, data: { preference: 10, exchange: 'mx.bench.test' } })),
    ],
  });
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
  });
  try {
    await relay.ready;
    const body = 'x'.repeat(76) + '\r\n';
    const ids: { id: string; domain: string }[] = [];
    for (let i = 0; i < count; i++) {
      const id = newMessageId();
      const domain = `d${i % domains}.bench.test`;
      const head = `From: bench@local.test\r\nTo: r@${domain}\r\nSubject: bench ${i}\r\n\r\n`;
      const raw = Buffer.from(head + body.repeat(Math.max(1, Math.ceil((size - head.length) / body.length))));
      await insertMessage(db.pool, { id, raw, mailFrom: 'bench@local.test', recipients: [`r@${domain}`] });
      ids.push({ id, domain });
    }
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now()`);
    log(`outbound-relay bench: ${count} messages of ${size} bytes to ${domains} domains, concurrency ${concurrency}`);
    const t0 = performance.now();
    for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((x) => producer.add({ messageId: x.id, domain: x.domain })));
    for (;;) {
      const r = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients WHERE status = 'delivered'`);
      if (r.rows[0]!.n >= count) break;
      const bad = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients WHERE status IN ('bounced', 'failed', 'deferred')`);
      if (bad.rows[0]!.n > 0) throw new Error(`${bad.rows[0]!.n} recipients not delivered`);
      await new Promise((res) => setTimeout(res, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const result: BenchOutboundRelayResult = {
      name: 'outbound-relay',
      messages: count,
      messageBytes: size,
      concurrency,
      seconds: Number(seconds.toFixed(2)),
      messagesPerSecond: Math.round(count / seconds),
      mxConnections: Object.values(mx.connections).reduce((a, b) => a + b, 0),
    };
    log(`outbound-relay: ${result.messagesPerSecond} msg/s delivered to the fake MX (${result.mxConnections} SMTP connections)`);
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
  const r = await benchOutboundRelay({ messages: arg('messages'), messageBytes: arg('size'), domains: arg('domains'), concurrency: arg('concurrency') });
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
}
