// The cache every replica shares: one Redis string per question under
// `<REDIS_PREFIX>:dns:<class>:<type>:<name>`, expiring (Redis TTL) when the answer can no
// longer be served even stale. Redis trouble is a miss, never a failed answer.
import type { Redis } from 'ioredis';
import { withTimeout, type Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';
import type { Metrics } from '../metrics.ts';
import { deserializeEntry, serializeEntry, type CacheEntry } from '../protocol/entry.ts';

export interface SharedCache {
  get(key: string): Promise<CacheEntry | undefined>;
  /** Stores the entry; with `release`, drops our claim in the same round trip (after the write). */
  set(key: string, entry: CacheEntry, keepMs: number, release?: boolean): Promise<void>;
  /**
   * Claims the upstream query for `key` across replicas (SET NX PX). true: ours to ask;
   * false: another replica is asking; undefined: Redis unavailable (ask anyway).
   */
  claim(key: string, ms: number): Promise<boolean | undefined>;
  release(key: string): Promise<void>;
  /** The entry and whether a claim is still held, in one round trip; undefined on Redis trouble. */
  peek(key: string): Promise<{ entry: CacheEntry | undefined; claimed: boolean } | undefined>;
}

export function createRedisCache(options: { redis: Redis; prefix: string; timeoutMs: number; logger: Logger; metrics: Metrics }): SharedCache {
  const { redis, logger, metrics } = options;
  const k = (key: string) => `${options.prefix}:dns:${key}`;
  const lock = (key: string) => `${options.prefix}:dns-asking:${key}`;
  /** A slow Redis is a miss: the answer never waits longer than timeoutMs for it. */
  const bounded = <T>(p: Promise<T>, op: string): Promise<T> => withTimeout(p, options.timeoutMs, `redis ${op}`);
  let lastLog = 0;
  const failed = (op: string, err: unknown) => {
    metrics.redisErrors.inc({ op });
    // one line per 10 s is enough to notice; per query would drown the log
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      logger.warn({ event: EVENTS.redisFailed, op, err: (err as Error).message }, 'redis cache unavailable, answering from process cache and upstreams');
    }
  };
  return {
    async get(key) {
      try {
        const raw = await bounded(redis.getBuffer(k(key)), 'get');
        return raw ? deserializeEntry(raw) : undefined;
      } catch (err) {
        failed('get', err);
        return undefined;
      }
    },
    async set(key, entry, keepMs, release) {
      try {
        const px = Math.max(1, Math.ceil(keepMs));
        if (release) {
          const res = await redis.pipeline().set(k(key), serializeEntry(entry), 'PX', px).del(lock(key)).exec();
          const err = res?.find(([e]) => e)?.[0];
          if (err) throw err;
        } else {
          await redis.set(k(key), serializeEntry(entry), 'PX', px);
        }
      } catch (err) {
        failed('set', err);
      }
    },
    async claim(key, ms) {
      try {
        return (await bounded(redis.set(lock(key), String(process.pid), 'PX', Math.max(1, Math.ceil(ms)), 'NX'), 'claim')) === 'OK';
      } catch (err) {
        failed('claim', err);
        return undefined;
      }
    },
    async release(key) {
      try {
        await redis.del(lock(key));
      } catch (err) {
        failed('release', err);
      }
    },
    async peek(key) {
      try {
        const res = await bounded(redis.pipeline().getBuffer(k(key)).exists(lock(key)).exec(), 'peek');
        if (!res || res.some(([e]) => e)) return undefined;
        const raw = res[0]![1] as Buffer | null;
        return { entry: raw ? deserializeEntry(raw) : undefined, claimed: res[1]![1] === 1 };
      } catch (err) {
        failed('peek', err);
        return undefined;
      }
    },
  };
}
