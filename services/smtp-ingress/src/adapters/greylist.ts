// Greylisting state in Redis, shared by every smtp-ingress replica: a retry through another
// replica sees the first attempt. One Lua script per check, so two replicas seeing the same
// triplet at once cannot both count a pass; sent as EVALSHA (EVAL once after a Redis restart
// or SCRIPT FLUSH), not its text each time.
//
// The warm path costs no round trip: a triplet Redis called known (or that just passed), and a
// client network it called allowlisted, are kept in this process for GREYLIST_CACHE_MS of the
// caller's clock. Both states only end when their keys expire, GREYLIST_TTL_DAYS after the last
// use, and the cache only delays that use's PEXPIRE by at most its own lifetime, so nothing
// another replica does can make a kept answer wrong. 'new' and 'early' are never kept: the
// retry must reach Redis to pass.
//   <prefix>:smtp:grey:t:<sha256>  hash {first, passed}: expires at the window, then (passed) after GREYLIST_TTL
//   <prefix>:smtp:grey:c:<network> passes of the client network; over GREYLIST_CLIENT_PASSES it skips greylisting

import { createHash } from 'node:crypto';
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

/** Entries kept per map before it is emptied (a bound, not an LRU: refilling costs one round trip each). */
const CACHE_MAX = 100_000;

export function createGreylist(deps: {
  redis: Redis;
  prefix: string;
  delayMs: number;
  windowMs: number;
  ttlMs: number;
  clientPasses: number;
  /** How long known triplets and allowlisted networks are kept in this process (GREYLIST_CACHE_MS; 0: ask Redis every time). */
  cacheMs?: number;
  timeoutMs?: number;
  onError(err: unknown): void;
}): Greylist {
  const timeoutMs = deps.timeoutMs ?? 500;
  const cacheMs = deps.cacheMs ?? 0;
  const sha = createHash('sha1').update(SCRIPT).digest('hex');
  const knownTriplets = new Map<string, number>();
  const allowedNetworks = new Map<string, number>();
  const keep = (map: Map<string, number>, key: string, until: number) => {
    if (map.size >= CACHE_MAX) map.clear();
    map.set(key, until);
  };
  const fresh = (map: Map<string, number>, key: string, now: number) => {
    const until = map.get(key);
    if (until === undefined) return false;
    if (now < until) return true;
    map.delete(key);
    return false;
  };
  const run = async (...args: (string | number)[]): Promise<string> => {
    try {
      return (await deps.redis.evalsha(sha, 2, ...args)) as string;
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return (await deps.redis.eval(SCRIPT, 2, ...args)) as string;
    }
  };
  return {
    async check(triplet, network, now) {
      if (cacheMs > 0) {
        if (fresh(allowedNetworks, network, now)) return 'client-allowlisted';
        if (fresh(knownTriplets, triplet, now)) return 'known';
      }
      let r: GreylistState;
      try {
        r = (await withTimeout(
          run(`${deps.prefix}:smtp:grey:t:${triplet}`, `${deps.prefix}:smtp:grey:c:${network}`, now, deps.delayMs, deps.windowMs, deps.ttlMs, deps.clientPasses),
          timeoutMs,
          'greylist (Redis)',
        )) as GreylistState;
      } catch (err) {
        deps.onError(err);
        return 'unavailable';
      }
      if (cacheMs > 0) {
        if (r === 'known' || r === 'passed') keep(knownTriplets, triplet, now + cacheMs);
        else if (r === 'client-allowlisted') keep(allowedNetworks, network, now + cacheMs);
      }
      return r;
    },
  };
}
