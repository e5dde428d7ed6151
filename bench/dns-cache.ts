// dns-cache benchmark: queries/s answered from the cache (warm) and cold (every name
// unique, so each answer costs a Redis miss, an upstream exchange with fake-dns and a Redis
// write). The service runs as its own process, as `pnpm start` runs it; the load comes
// from one UDP socket here keeping BENCH_DNS_CONCURRENCY queries in flight.
// Run alone: `pnpm exec node bench/dns-cache.ts`.
import { createSocket } from 'node:dgram';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { freePort, redisPrefix, startFakeDns, startServiceProcess, type FakeDnsRecord } from '@hopmail/test-kit';
import { encodeQuery } from '../packages/dns-wire/src/index.ts';

export interface BenchDnsCacheOptions {
  /** queries kept in flight (default 64) */
  concurrency?: number;
  /** seconds of warm load (default 3) */
  warmSeconds?: number;
  /** distinct names cycled through in the warm run (default 1,000) */
  warmNames?: number;
  /** unique names queried once each in the cold run (default 10,000) */
  coldNames?: number;
  log?: (line: string) => void;
}

export interface BenchDnsCacheResult {
  name: 'dns-cache';
  settings: Required<Omit<BenchDnsCacheOptions, 'log'>>;
  warm: { queries: number; seconds: number; queriesPerSecond: number; lost: number };
  cold: { queries: number; seconds: number; queriesPerSecond: number; lost: number; upstreamQueries: number };
}

const num = (k: string, d: number) => Number(process.env[k] ?? d);

/** Sends queries (patched with fresh ids) while `next()` gives names; counts NOERROR answers. */
async function load(port: number, opts: { concurrency: number; until: number; next: () => Buffer | undefined }): Promise<{ answered: number; lost: number; seconds: number }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const pending = new Map<number, number>();
  let id = 0;
  let answered = 0;
  let lost = 0;
  let exhausted = false;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const finish = () => {
      clearInterval(sweeper);
      sock.close();
      resolve({ answered, lost, seconds: (performance.now() - t0) / 1000 });
    };
    const launch = () => {
      if (exhausted || performance.now() > opts.until) {
        exhausted = true;
        if (pending.size === 0) finish();
        return;
      }
      const q = opts.next();
      if (!q) {
        exhausted = true;
        if (pending.size === 0) finish();
        return;
      }
      do id = (id + 1) & 0xffff;
      while (pending.has(id));
      q.writeUInt16BE(id, 0);
      pending.set(id, performance.now());
      sock.send(q, port, '127.0.0.1');
    };
    sock.on('message', (m) => {
      const rid = m.readUInt16BE(0);
      if (!pending.delete(rid)) return;
      if ((m.readUInt16BE(2) & 0xf) === 0) answered++;
      else lost++;
      launch();
    });
    // UDP may drop: a query unanswered for 2 s counts as lost and frees its slot.
    const sweeper = setInterval(() => {
      const now = performance.now();
      for (const [k, at] of pending) {
        if (now - at > 2000) {
          pending.delete(k);
          lost++;
          launch();
        }
      }
    }, 250);
    for (let i = 0; i < opts.concurrency; i++) launch();
  });
}

export async function benchDnsCache(options: BenchDnsCacheOptions = {}): Promise<BenchDnsCacheResult> {
  const log = options.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const settings = {
    concurrency: options.concurrency ?? num('BENCH_DNS_CONCURRENCY', 64),
    warmSeconds: options.warmSeconds ?? num('BENCH_DNS_WARM_SECONDS', 3),
    warmNames: options.warmNames ?? num('BENCH_DNS_WARM_NAMES', 1000),
    coldNames: options.coldNames ?? num('BENCH_DNS_COLD_NAMES', 10_000),
  };
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const records: FakeDnsRecord[] = [{ name: 'bench.test', type: 'SOA', ttl: 3600, data: { mname: 'ns.bench.test', rname: 'h.bench.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } }];
  for (let i = 0; i < settings.warmNames; i++) records.push({ name: `w${i}.bench.test`, type: 'A', ttl: 3600, data: `127.1.${(i >> 8) & 0xff}.${i & 0xff}` });
  for (let i = 0; i < settings.coldNames; i++) records.push({ name: `c${i}.bench.test`, type: 'A', ttl: 3600, data: `127.2.${(i >> 8) & 0xff}.${i & 0xff}` });
  const fake = await startFakeDns({ host: '127.0.0.1', records });
  const prefix = redisPrefix();
  const port = await freePort();
  const proc = startServiceProcess('dns-cache', {
    LOG_LEVEL: 'info', // start.done, which startServiceProcess waits for, is an info line
    DNS_HOST: '127.0.0.1',
    DNS_PORT: String(port),
    DNS_UPSTREAMS: `${fake.host}:${fake.port}`,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    HEALTH_HOST: '127.0.0.1',
    HEALTH_PORT: '0',
  });
  try {
    await proc.ready;
    const warmQueries = Array.from({ length: settings.warmNames }, (_, i) => encodeQuery({ id: 0, name: `w${i}.bench.test`, type: 1 }));
    // fill the cache (and JIT) first
    let i = 0;
    await load(port, { concurrency: settings.concurrency, until: Infinity, next: () => (i < warmQueries.length ? Buffer.from(warmQueries[i++]!) : undefined) });
    let j = 0;
    const warm = await load(port, { concurrency: settings.concurrency, until: performance.now() + settings.warmSeconds * 1000, next: () => Buffer.from(warmQueries[j++ % warmQueries.length]!) });
    const before = fake.queries.length;
    let k = 0;
    const cold = await load(port, { concurrency: settings.concurrency, until: Infinity, next: () => (k < settings.coldNames ? encodeQuery({ id: 0, name: `c${k++}.bench.test`, type: 1 }) : undefined) });
    const result: BenchDnsCacheResult = {
      name: 'dns-cache',
      settings,
      warm: { queries: warm.answered, seconds: +warm.seconds.toFixed(2), queriesPerSecond: Math.round(warm.answered / warm.seconds), lost: warm.lost },
      cold: { queries: cold.answered, seconds: +cold.seconds.toFixed(2), queriesPerSecond: Math.round(cold.answered / cold.seconds), lost: cold.lost, upstreamQueries: fake.queries.length - before },
    };
    log(`dns-cache settings: ${JSON.stringify(settings)} (service in its own process, fake-dns upstream and load generator in this one)`);
    log(`dns-cache warm (from cache): ${result.warm.queriesPerSecond} queries/s (${result.warm.queries} in ${result.warm.seconds} s, ${result.warm.lost} lost)`);
    log(`dns-cache cold (unique names, upstream + Redis): ${result.cold.queriesPerSecond} queries/s (${result.cold.queries} in ${result.cold.seconds} s, ${result.cold.lost} lost, ${result.cold.upstreamQueries} upstream queries)`);
    return result;
  } finally {
    await proc.kill('SIGTERM');
    await fake.stop();
    const redis = new Redis(redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await benchDnsCache();
  process.exit(0);
}
