// The console overview's aggregated endpoint (GET /v1/overview) with a large store: by default
// 1,000,000 messages (one recipient each, their trace events and traffic rollup written by the
// triggers as in production) and an hour of queue samples. admin-api runs as its own process;
// the figure is the latency of the endpoint over HTTP on loopback, sequential requests.
// Run alone: `pnpm exec node bench/console-overview.ts` (BENCH_OVERVIEW_MESSAGES sets the size).
import { pathToFileURL } from 'node:url';
import { baseUrls, createTestDatabase, freePort, redisPrefix, startServiceProcess } from '@hopmail/test-kit';

export interface BenchOverviewResult {
  name: 'console-overview';
  messages: number;
  loadSeconds: number;
  requests: number;
  ms: { p50: number; p95: number; max: number };
}

const BATCH = 100_000;

export async function benchConsoleOverview(opts: { messages?: number; requests?: number; log?: (l: string) => void } = {}): Promise<BenchOverviewResult> {
  const messages = opts.messages ?? Number(process.env.BENCH_OVERVIEW_MESSAGES ?? 1_000_000);
  const requests = opts.requests ?? 200;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const db = await createTestDatabase();
  const token = 'bench-admin-token-' + 'x'.repeat(16);
  const port = await freePort();
  let proc: ReturnType<typeof startServiceProcess> | null = null;
  try {
    const t0 = performance.now();
    // Spread over the last 24 hours, so the hour the overview shows holds ~1/24 of them.
    for (let done = 0; done < messages; done += BATCH) {
      const n = Math.min(BATCH, messages - done);
      await db.pool.query(
        `WITH m AS (
           INSERT INTO messages (id, raw, size, mail_from, received_at, client_ip, tls)
           SELECT gen_random_uuid(), '\\x5375626a6563743a20780d0a0d0a78'::bytea, 15, 'bench@remote.test',
                  now() - (random() * interval '24 hours'), '192.0.2.1', false
             FROM generate_series(1, $1) RETURNING id)
         INSERT INTO recipients (message_id, address, domain, status)
         SELECT id, 'user@bench.test', 'bench.test', 'delivered' FROM m`,
        [n],
      );
      log(`console-overview: ${done + n} messages`);
    }
    await db.pool.query(`INSERT INTO queue_samples (at, depths) SELECT now() - make_interval(secs => s * 10), '{"route-message": 3, "deliver-remote": 1, "send-dsn": 0, "queued": 5, "relay": 2, "deferred": 40, "held": 1}'::jsonb FROM generate_series(0, 359) s`);
    await db.pool.query('ANALYZE');
    log('console-overview: store ready');
    const loadSeconds = Math.round((performance.now() - t0) / 100) / 10;
    proc = startServiceProcess('admin-api', { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: redisPrefix(), ADMIN_TOKEN: token, ADMIN_PORT: String(port), HEALTH_PORT: String(await freePort()), HEALTH_HOST: '127.0.0.1' });
    await Promise.race([proc.ready, proc.exited.then((c) => Promise.reject(new Error(`admin-api exited ${c}: ${JSON.stringify(proc!.logs.slice(-5))}`)))]);
    const url = `http://127.0.0.1:${port}/v1/overview`;
    const get = async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      if (res.status !== 200) throw new Error(`overview answered ${res.status}`);
      await res.arrayBuffer();
    };
    for (let i = 0; i < 20; i++) await get(); // warm-up
    const times: number[] = [];
    for (let i = 0; i < requests; i++) {
      const t = performance.now();
      await get();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 10) / 10;
    return { name: 'console-overview', messages, loadSeconds, requests, ms: { p50: at(0.5), p95: at(0.95), max: Math.round(times.at(-1)! * 10) / 10 } };
  } finally {
    await proc?.kill('SIGTERM');
    await db.drop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(JSON.stringify(await benchConsoleOverview()) + '\n');
  process.exit(0);
}
