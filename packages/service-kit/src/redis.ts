// Redis carries Hopmail's work queues, so it must be configured as a queue, not a cache.
// An evicting Redis (any maxmemory-policy but noeviction) drops jobs silently under memory
// pressure, and BullMQ's own bookkeeping keys with them: refuse to run against it. A Redis
// that persists nothing loses every job on restart; the reconciler re-enqueues from
// PostgreSQL (the system of record), so that is survivable, but it deserves a loud warning.
//
// Managed Redis services often disable CONFIG, so the policy and AOF come from INFO, which
// every Redis answers; CONFIG GET save is only asked to tell "RDB snapshots" from "nothing".

import { Redis, type RedisOptions } from 'ioredis';
import { TimeoutError, withTimeout } from './timeout.ts';

/**
 * The connection BullMQ needs (queues, workers, producers): commands wait while Redis is away
 * (offline queue, maxRetriesPerRequest: null) and go through once it is back.
 */
export function queueRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, ...extra });
}

/**
 * For limits, counters, caches and publishers, which must not wait for Redis: no offline
 * queue, so a command fails at once while Redis is away and the caller goes on without it
 * (logins unthrottled across replicas, an answer from the process cache, a publish tried
 * again later). Built from a URL, or duplicated from an existing connection.
 */
export function failFastRedis(from: string | Redis, extra: RedisOptions = {}): Redis {
  const options: RedisOptions = { maxRetriesPerRequest: 1, enableOfflineQueue: false, ...extra };
  const redis = typeof from === 'string' ? new Redis(from, options) : from.duplicate(options);
  redis.on('error', () => {}); // its callers report failures (and /readyz does)
  return redis;
}

export interface RedisPolicyLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export type Persistence = 'aof' | 'rdb' | 'none' | 'unknown';

export interface RedisPolicy {
  maxmemoryPolicy: string;
  persistence: Persistence;
}

/** Thrown when the Redis would evict queue keys; the service must not start. */
export class RedisPolicyError extends Error {
  readonly code = 'redis.eviction-policy';
  readonly policy: string;
  constructor(policy: string) {
    super(`Redis maxmemory-policy is "${policy}"; queues need "noeviction" (set maxmemory-policy noeviction)`);
    this.name = 'RedisPolicyError';
    this.policy = policy;
  }
}

/** `field:value` lines of one INFO section. */
function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function whenReady(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => redis.once('ready', () => resolve()));
}

/** Reads the eviction policy and the kind of persistence of the Redis behind `redis`. */
export async function readRedisPolicy(redis: Redis): Promise<RedisPolicy> {
  const memory = parseInfo(await redis.info('memory'));
  const persistenceInfo = parseInfo(await redis.info('persistence'));
  const maxmemoryPolicy = memory.maxmemory_policy ?? 'unknown';
  if (persistenceInfo.aof_enabled === '1') return { maxmemoryPolicy, persistence: 'aof' };
  let save: string | undefined;
  try {
    const reply = (await redis.call('CONFIG', 'GET', 'save')) as string[];
    save = reply[1];
  } catch {
    // CONFIG disabled or renamed (managed Redis): snapshots cannot be told apart from nothing.
  }
  if (save === undefined) return { maxmemoryPolicy, persistence: 'unknown' };
  return { maxmemoryPolicy, persistence: save.trim() ? 'rdb' : 'none' };
}

/**
 * The start-up check every service that talks to Redis runs before it accepts work:
 * throws RedisPolicyError (after logging `redis.eviction-policy`) when Redis may evict keys,
 * logs `redis.no-persistence` / `redis.snapshot-only` / `redis.persistence-unknown` warnings
 * otherwise. Gives up with an error after `timeoutMs` when Redis does not answer, so that a
 * supervisor restarts the service instead of it hanging before its health port is open.
 */
export async function assertQueueRedis(redis: Redis, logger: RedisPolicyLogger, options: { timeoutMs?: number } = {}): Promise<RedisPolicy> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  // Connections made with enableOfflineQueue: false fail commands until they are ready.
  const policy = await withTimeout(whenReady(redis).then(() => readRedisPolicy(redis)), timeoutMs).catch((err: unknown) => {
    throw err instanceof TimeoutError ? new Error(`Redis did not answer the policy check within ${timeoutMs} ms`, { cause: err }) : err;
  });

  if (policy.maxmemoryPolicy !== 'noeviction') {
    const err = new RedisPolicyError(policy.maxmemoryPolicy);
    logger.error({ event: err.code, maxmemoryPolicy: policy.maxmemoryPolicy }, err.message);
    throw err;
  }
  switch (policy.persistence) {
    case 'aof':
      break;
    case 'rdb':
      logger.warn(
        { event: 'redis.snapshot-only', persistence: policy.persistence },
        'Redis persists only RDB snapshots: jobs queued since the last snapshot are lost if Redis restarts (PostgreSQL keeps the mail and the reconciler re-enqueues it, late). Turn on appendonly yes',
      );
      break;
    case 'none':
      logger.warn(
        { event: 'redis.no-persistence', persistence: policy.persistence },
        'REDIS HAS NO PERSISTENCE (appendonly no, no save points): every queued job is lost when Redis restarts; PostgreSQL keeps the mail and the reconciler re-enqueues it, late. Run Redis with appendonly yes',
      );
      break;
    case 'unknown':
      logger.warn(
        { event: 'redis.persistence-unknown', persistence: policy.persistence },
        'Redis has AOF off and CONFIG is unavailable, so RDB snapshots cannot be checked: make sure the managed Redis persists data',
      );
      break;
    default: {
      const never: never = policy.persistence;
      throw new Error(`unknown persistence ${String(never)}`);
    }
  }
  return policy;
}
