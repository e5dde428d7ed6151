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
//
// A RCPT that greylisting lets through is also counted for RATE_MAX_RECIPIENTS: the caller
// passes that counter along and the script increments it when its answer lets the RCPT pass,
// so a RCPT that reaches Redis costs one round trip for both.
//   <prefix>:smtp:grey:t:<sha256>  hash {first, passed}: expires at the window, then (passed) after GREYLIST_TTL
//   <prefix>:smtp:grey:c:<network> passes of the client network; over GREYLIST_CLIENT_PASSES it skips greylisting

import { createHash } from 'node:crypto';
import { withTimeout } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import type { GreylistState } from '../policy/greylist-policy.ts';
import type { RateCounter } from './rate-limiter.ts';

// KEYS[3] (optional): the rate counter of the RCPT, incremented (and given ARGV[6] ms to live)
// when the answer lets it through; the reply is {state} or {state, count}.
const SCRIPT = `
local t, c, r = KEYS[1], KEYS[2], KEYS[3]
local now, delay, window, ttl, passes = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function pass(state)
  if not r then return {state} end
  local n = redis.call('INCR', r)
  redis.call('PEXPIRE', r, tonumber(ARGV[6]))
  return {state, n}
end
local seen = tonumber(redis.call('GET', c) or '0')
if passes > 0 and seen >= passes then return pass('client-allowlisted') end
local first = redis.call('HGET', t, 'first')
if not first then
  redis.call('HSET', t, 'first', now)
  redis.call('PEXPIRE', t, window)
  return {'new'}
end
if redis.call('HGET', t, 'passed') then
  redis.call('PEXPIRE', t, ttl)
  return pass('known')
end
if now - tonumber(first) < delay then return {'early'} end
if now - tonumber(first) > window then
  redis.call('HSET', t, 'first', now)
  redis.call('PEXPIRE', t, window)
  return {'new'}
end
redis.call('HSET', t, 'passed', now)
redis.call('PEXPIRE', t, ttl)
redis.call('INCR', c)
redis.call('PEXPIRE', c, ttl)
return pass('passed')
`;

export interface GreylistAnswer {
  state: GreylistState;
  /** The counter's value after this RCPT when the script counted it; null when it did not (no counter, not let through, answered from the process, Redis trouble). */
  counted: number | null;
}

export interface Greylist {
  /**
   * Never throws: 'unavailable' when Redis did not answer in time (the caller lets the mail
   * through). With `counter`, a RCPT let through by Redis's answer is counted there too.
   */
  check(triplet: string, network: string, now: number, counter?: RateCounter): Promise<GreylistAnswer>;
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
  const run = async (keys: string[], args: (string | number)[]): Promise<[GreylistState, number?]> => {
    try {
      return (await deps.redis.evalsha(sha, keys.length, ...keys, ...args)) as [GreylistState, number?];
    } catch (err) {
      if (!String((err as Error).message).startsWith('NOSCRIPT')) throw err;
      return (await deps.redis.eval(SCRIPT, keys.length, ...keys, ...args)) as [GreylistState, number?];
    }
  };
  return {
    async check(triplet, network, now, counter) {
      if (cacheMs > 0) {
        if (fresh(allowedNetworks, network, now)) return { state: 'client-allowlisted', counted: null };
        if (fresh(knownTriplets, triplet, now)) return { state: 'known', counted: null };
      }
      const keys = [`${deps.prefix}:smtp:grey:t:${triplet}`, `${deps.prefix}:smtp:grey:c:${network}`];
      const args: (string | number)[] = [now, deps.delayMs, deps.windowMs, deps.ttlMs, deps.clientPasses];
      if (counter) {
        keys.push(counter.key);
        args.push(counter.ttlMs);
      }
      let state: GreylistState;
      let counted: number | null;
      try {
        const [s, n] = await withTimeout(run(keys, args), timeoutMs, 'greylist (Redis)');
        state = s;
        counted = n ?? null;
      } catch (err) {
        deps.onError(err);
        return { state: 'unavailable', counted: null };
      }
      if (cacheMs > 0) {
        if (state === 'known' || state === 'passed') keep(knownTriplets, triplet, now + cacheMs);
        else if (state === 'client-allowlisted') keep(allowedNetworks, network, now + cacheMs);
      }
      return { state, counted };
    },
  };
}
