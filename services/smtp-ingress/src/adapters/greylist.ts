// Greylisting state in Redis, shared by every smtp-ingress replica: a retry through another
// replica sees the first attempt. One Lua script per check, so two replicas seeing the same
// triplet at once cannot both count a pass.
//   <prefix>:smtp:grey:t:<sha256>  hash {first, passed}: expires at the window, then (passed) after GREYLIST_TTL
//   <prefix>:smtp:grey:c:<network> passes of the client network; over GREYLIST_CLIENT_PASSES it skips greylisting

import { withTimeout } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import type { GreylistState } from '../policy/greylist-policy.ts';

const SCRIPT = `
local t, c = KEYS[1], KEYS[2]
local now, delay, window, ttl, passes = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local seen = tonumber(redis.call('GET', c) or '0')
if passes > 0 and seen >= passes then return 'client-allowlisted' end
local first = redis.call('HGET', t, 'first')
if not first then
  redis.call('HSET', t, 'first', now)
  redis.call('PEXPIRE', t, window)
  return 'new'
end
if redis.call('HGET', t, 'passed') then
  redis.call('PEXPIRE', t, ttl)
  return 'known'
end
if now - tonumber(first) < delay then return 'early' end
if now - tonumber(first) > window then
  redis.call('HSET', t, 'first', now)
  redis.call('PEXPIRE', t, window)
  return 'new'
end
redis.call('HSET', t, 'passed', now)
redis.call('PEXPIRE', t, ttl)
redis.call('INCR', c)
redis.call('PEXPIRE', c, ttl)
return 'passed'
`;

export interface Greylist {
  /** Never throws: 'unavailable' when Redis did not answer in time (the caller lets the mail through). */
  check(triplet: string, network: string, now: number): Promise<GreylistState>;
}

export function createGreylist(deps: { redis: Redis; prefix: string; delayMs: number; windowMs: number; ttlMs: number; clientPasses: number; timeoutMs?: number; onError(err: unknown): void }): Greylist {
  const timeoutMs = deps.timeoutMs ?? 500;
  return {
    async check(triplet, network, now) {
      try {
        const r = await withTimeout(
          deps.redis.eval(SCRIPT, 2, `${deps.prefix}:smtp:grey:t:${triplet}`, `${deps.prefix}:smtp:grey:c:${network}`, now, deps.delayMs, deps.windowMs, deps.ttlMs, deps.clientPasses) as Promise<string>,
          timeoutMs,
          'greylist (Redis)',
        );
        return r as GreylistState;
      } catch (err) {
        deps.onError(err);
        return 'unavailable';
      }
    },
  };
}
