// Per-client rate counters shared by every replica: one Redis key per (kind, client, window)
// — fixed windows keyed by the window's number, so a client's count resets when the window
// turns (the clock is the ingress's, so tests can turn it). The client is an IPv4 address or
// an IPv6 /64 (clientKey). Redis trouble never refuses mail: the count then reads 0.

import { withTimeout } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { clientKey } from './auth-limiter.ts';

export type RateKind = 'connections' | 'messages' | 'recipients' | 'unknown-recipients';

/** Where an event of one kind is counted now: for a script that counts it in its own round trip (INCR, then PEXPIRE ttlMs). */
export interface RateCounter {
  key: string;
  ttlMs: number;
}

export interface RateLimiter {
  /** Counts one event and returns the count in the current window (0 when Redis did not answer). */
  hit(kind: RateKind, ip: string, now: number): Promise<number>;
  /** The counter hit() would increment, for a caller that counts it within another script (greylisting). */
  counter(kind: RateKind, ip: string, now: number): RateCounter;
  /** The current count without counting (0 when Redis did not answer). */
  peek(kind: RateKind, ip: string, now: number): Promise<number>;
}

export function createRateLimiter(deps: { redis: Redis; prefix: string; windowMs: number; timeoutMs?: number; onError(err: unknown): void }): RateLimiter {
  const timeoutMs = deps.timeoutMs ?? 500;
  const key = (kind: RateKind, ip: string, now: number) => `${deps.prefix}:smtp:rate:${kind}:${clientKey(ip)}:${Math.floor(now / deps.windowMs)}`;
  const bounded = async (p: Promise<number>): Promise<number> => {
    try {
      return await withTimeout(p, timeoutMs, 'rate counters (Redis)');
    } catch (err) {
      deps.onError(err);
      return 0;
    }
  };
  return {
    hit: (kind, ip, now) =>
      bounded(
        (async () => {
          const k = key(kind, ip, now);
          const [[, n]] = (await deps.redis.multi().incr(k).pexpire(k, deps.windowMs * 2).exec()) as [[unknown, number], unknown];
          return n;
        })(),
      ),
    counter: (kind, ip, now) => ({ key: key(kind, ip, now), ttlMs: deps.windowMs * 2 }),
    peek: (kind, ip, now) => bounded(deps.redis.get(key(kind, ip, now)).then((v) => Number(v ?? 0))),
  };
}
