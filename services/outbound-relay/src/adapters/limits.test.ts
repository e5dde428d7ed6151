import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, redisPrefix } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { createLimits } from './limits.ts';

let redis: Redis;
beforeAll(() => {
  redis = queueRedis(baseUrls().redisUrl);
});
afterAll(async () => {
  await redis.quit();
});

describe('per-destination limits in Redis', () => {
  it('caps connections per MX host across processes and frees them on release', async () => {
    const prefix = redisPrefix();
    const a = createLimits(redis, { prefix, maxPerHost: 2, ratePerMinute: 0, leaseTtlMs: 10_000 });
    const b = createLimits(redis, { prefix, maxPerHost: 2, ratePerMinute: 0, leaseTtlMs: 10_000 }); // another replica
    const l1 = await a.acquire('mx.example');
    const l2 = await b.acquire('MX.example');
    expect(l1 && l2).toBeTruthy();
    expect(await a.acquire('mx.example')).toBeNull();
    expect(await b.acquire('other.example')).toBeTruthy();
    await a.release(l1!);
    expect(await b.acquire('mx.example')).toBeTruthy();
  });

  it('a dead holder frees its slot when the lease expires; live holders refresh theirs', async () => {
    const prefix = redisPrefix();
    let t = 1_000_000;
    const dead = createLimits(redis, { prefix, maxPerHost: 1, ratePerMinute: 0, leaseTtlMs: 1000, now: () => t });
    const live = createLimits(redis, { prefix, maxPerHost: 1, ratePerMinute: 0, leaseTtlMs: 1000, now: () => t });
    expect(await dead.acquire('mx')).toBeTruthy();
    expect(await live.acquire('mx')).toBeNull();
    t += 1001; // the holder never refreshed: it is gone
    const l = await live.acquire('mx');
    expect(l).toBeTruthy();
    t += 900;
    await live.refresh();
    t += 900;
    expect(await dead.acquire('mx')).toBeNull(); // refreshed lease still valid
  });

  it('rate limit: N messages per minute per host', async () => {
    const prefix = redisPrefix();
    let t = 60_000 * 1000;
    const l = createLimits(redis, { prefix, maxPerHost: 1, ratePerMinute: 3, leaseTtlMs: 1000, now: () => t });
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await l.takeRate('mx'));
    expect(got).toEqual([true, true, true, false, false]);
    expect(await l.takeRate('other')).toBe(true);
    t += 60_000; // next minute
    expect(await l.takeRate('mx')).toBe(true);
  });
});
