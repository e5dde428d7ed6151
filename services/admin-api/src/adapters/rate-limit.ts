// Authentication-failure limit per client IP, in Redis so every replica counts together.
// Fixed window: INCR + EXPIRE on the first failure. Redis trouble fails open (logged): the
// limit is a brake on guessing, and keys are not guessable anyway.
import type { Redis } from 'ioredis';
import type { Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';

export interface AuthLimiter {
  /** Seconds until the IP may try again, or 0 when it may now. */
  blockedFor(ip: string): Promise<number>;
  fail(ip: string): Promise<void>;
}

export interface AuthLimiterDeps {
  /** Fail-fast: a request never waits for an absent Redis. */
  redis: Redis;
  prefix: string;
  limit: number;
  windowS: number;
  logger: Logger;
}

export function createAuthLimiter({ redis, prefix, limit, windowS, logger }: AuthLimiterDeps): AuthLimiter {
  const key = (ip: string) => `${prefix}:admin:authfail:${ip}`;
  return {
    async blockedFor(ip) {
      try {
        const [count, ttl] = await Promise.all([redis.get(key(ip)), redis.ttl(key(ip))]);
        return Number(count ?? 0) >= limit ? Math.max(1, ttl) : 0;
      } catch (err) {
        logger.warn({ event: EVENTS.authLimitUnavailable, err }, 'auth failure limit not checked (Redis)');
        return 0;
      }
    },
    async fail(ip) {
      try {
        const n = await redis.incr(key(ip));
        if (n === 1) await redis.expire(key(ip), windowS);
        if (n === limit) logger.warn({ event: EVENTS.authRateLimited, remoteIp: ip, windowS }, 'too many failed authentications; refusing this IP');
      } catch (err) {
        logger.warn({ event: EVENTS.authLimitUnavailable, err }, 'auth failure not counted (Redis)');
      }
    },
  };
}
