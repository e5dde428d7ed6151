// The greylist adapter against a Redis of its own (startPrivateRedis: this file flushes its
// scripts and deletes keys behind the adapter's back): EVALSHA with the EVAL fallback, and the
// in-process cache of known triplets and allowlisted networks (GREYLIST_CACHE_MS) — what it
// keeps, for how long by the caller's clock, and what it never keeps.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis } from '@hopmail/test-kit';
import { createGreylist } from './greylist.ts';

let server: Awaited<ReturnType<typeof startPrivateRedis>>;
let redis: Redis;
const errors: unknown[] = [];
let n = 0;

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

const MIN = 60_000;
const greylist = (over: Partial<Parameters<typeof createGreylist>[0]> = {}) =>
  createGreylist({ redis, prefix: `t${++n}`, delayMs: 5 * MIN, windowMs: 24 * 60 * MIN, ttlMs: 35 * 24 * 60 * MIN, clientPasses: 0, onError: (e) => errors.push(e), ...over });

describe('greylist adapter (Redis)', () => {
  it('runs its script by SHA, loading it again after SCRIPT FLUSH (NOSCRIPT)', async () => {
    await redis.script('FLUSH');
    const g = greylist();
    expect((await g.check('a', '192.0.2.0/24', 0)).state).toBe('new');
    await redis.script('FLUSH');
    expect((await g.check('a', '192.0.2.0/24', 1000)).state).toBe('early');
    expect((await g.check('a', '192.0.2.0/24', 6 * MIN)).state).toBe('passed');
    expect(errors).toEqual([]);
  });

  it('keeps a passed or known triplet for cacheMs of the caller’s clock, then asks Redis again', async () => {
    const g = greylist({ cacheMs: MIN, prefix: 'cache' });
    expect((await g.check('t', '192.0.2.0/24', 0)).state).toBe('new');
    expect((await g.check('t', '192.0.2.0/24', 6 * MIN)).state).toBe('passed');
    // Gone from Redis (as after its TTL): still known here until the cache entry ends.
    await redis.del('cache:smtp:grey:t:t');
    expect((await g.check('t', '192.0.2.0/24', 6 * MIN + 59_999)).state).toBe('known');
    expect((await g.check('t', '192.0.2.0/24', 7 * MIN)).state).toBe('new');
    // 'new' and 'early' are never kept: every retry reaches Redis.
    await redis.del('cache:smtp:grey:t:t');
    expect((await g.check('t', '192.0.2.0/24', 7 * MIN + 1)).state).toBe('new');
    expect(errors).toEqual([]);
  });

  it('with a rate counter: one round trip counts the RCPT when the answer lets it through, never when it defers it', async () => {
    const g = greylist({ cacheMs: MIN, prefix: 'count', delayMs: 0 });
    const counter = { key: 'count:smtp:rate:recipients:192.0.2.7:0', ttlMs: 120_000 };
    expect(await g.check('t', '192.0.2.0/24', 0, counter)).toEqual({ state: 'new', counted: null });
    expect(await redis.exists(counter.key)).toBe(0);
    expect(await g.check('t', '192.0.2.0/24', 1, counter)).toEqual({ state: 'passed', counted: 1 });
    expect(await g.check('u', '192.0.2.0/24', 2, counter)).toEqual({ state: 'new', counted: null });
    expect(await g.check('u', '192.0.2.0/24', 3, counter)).toEqual({ state: 'passed', counted: 2 });
    const ttl = await redis.pttl(counter.key);
    expect(ttl).toBeGreaterThan(100_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
    // Answered from the process: not counted here, the caller counts it itself.
    expect(await g.check('t', '192.0.2.0/24', 4, counter)).toEqual({ state: 'known', counted: null });
    expect(await redis.get(counter.key)).toBe('2');
    // Known in Redis (another replica's cache would not know it): counted in the same script.
    const other = greylist({ cacheMs: MIN, prefix: 'count', delayMs: 0 });
    expect(await other.check('t', '192.0.2.0/24', 5, counter)).toEqual({ state: 'known', counted: 3 });
  });

  it('keeps an allowlisted client network the same way; cacheMs 0 keeps nothing', async () => {
    const g = greylist({ cacheMs: MIN, prefix: 'nets', clientPasses: 1 });
    await redis.set('nets:smtp:grey:c:198.51.100.0/24', '1');
    expect((await g.check('x', '198.51.100.0/24', 0)).state).toBe('client-allowlisted');
    await redis.del('nets:smtp:grey:c:198.51.100.0/24');
    expect((await g.check('y', '198.51.100.0/24', 1000)).state).toBe('client-allowlisted');
    expect((await g.check('y', '198.51.100.0/24', 2 * MIN)).state).toBe('new');

    const none = greylist({ cacheMs: 0, prefix: 'none', delayMs: 0 });
    expect((await none.check('t', '192.0.2.0/24', 0)).state).toBe('new');
    expect((await none.check('t', '192.0.2.0/24', 1)).state).toBe('passed');
    await redis.del('none:smtp:grey:t:t');
    expect((await none.check('t', '192.0.2.0/24', 2)).state).toBe('new');
  });
});
