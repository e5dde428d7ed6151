// The cache every replica shares: one Redis string per question under
// `<REDIS_PREFIX>:dns:<class>:<type>:<name>`, expiring (Redis TTL) when the answer can no
// longer be served even stale. Redis trouble is a miss, never a failed answer.
import type { Redis } from 'ioredis';
import type { Logger } from '@hopmail/service-kit';
import { EVENT } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { deserializeEntry, serializeEntry, type CacheEntry } from '../protocol/entry.ts';

export interface SharedCache {
  get(key: string): Promise<CacheEntry | undefined>;
  set(key: string, entry: CacheEntry, keepMs: number): Promise<void>;
}

export function createRedisCache(opts: { redis: Redis; prefix: string; timeoutMs: number; logger: Logger; metrics: Metrics }): SharedCache {
  const { redis, logger, metrics } = opts;
  const k = (key: string) => `${opts.prefix}:dns:${key}`;
  let lastLog = 0;
  const failed = (op: 'get' | 'set', err: unknown) => {
    metrics.redisErrors.inc({ op });
    // one line per 10 s is enough to notice; per query would drown the log
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      logger.warn({ event: EVENT.redisFailed, op, err: (err as Error).message }, 'redis cache unavailable, answering from process cache and upstreams');
    }
  };
  return {
    async get(key) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const raw = await Promise.race([
          redis.getBuffer(k(key)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`redis get slower than ${opts.timeoutMs} ms`)), opts.timeoutMs);
          }),
        ]);
        return raw ? deserializeEntry(raw) : undefined;
      } catch (err) {
        failed('get', err);
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    },
    async set(key, entry, keepMs) {
      try {
        await redis.set(k(key), serializeEntry(entry), 'PX', Math.max(1, Math.ceil(keepMs)));
      } catch (err) {
        failed('set', err);
      }
    },
  };
}
