// Per-destination connection slots and message rate across every replica, in Redis.
// Slots are leases with an expiry (a sorted set scored by expiry time), so a process killed
// while holding one frees it after RELAY_LEASE_TTL_MS without anyone cleaning up.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0`;

const RATE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return 0 end
return 1`;

export interface Lease {
  id: string;
  host: string;
}

export interface Limits {
  acquire(host: string): Promise<Lease | null>;
  release(lease: Lease): Promise<void>;
  /** True when one more message to `host` fits this minute's budget. */
  takeRate(host: string): Promise<boolean>;
  /** Extends every lease this process holds (called on a timer). */
  refresh(): Promise<void>;
  held(): number;
}

export function createLimits(redis: Redis, opts: { prefix: string; maxPerHost: number; ratePerMinute: number; leaseTtlMs: number; now?: () => number }): Limits {
  const now = opts.now ?? Date.now;
  const key = (host: string) => `${opts.prefix}:relay:conn:${host.toLowerCase()}`;
  const held = new Map<string, Lease>();
  return {
    async acquire(host) {
      const id = randomUUID();
      const t = now();
      const ok = await redis.eval(ACQUIRE, 1, key(host), String(t), String(t + opts.leaseTtlMs), String(opts.maxPerHost), id, String(opts.leaseTtlMs * 2));
      if (ok !== 1) return null;
      const lease = { id, host };
      held.set(id, lease);
      return lease;
    },
    async release(lease) {
      held.delete(lease.id);
      await redis.zrem(key(lease.host), lease.id);
    },
    async takeRate(host) {
      if (opts.ratePerMinute <= 0) return true;
      const window = Math.floor(now() / 60_000);
      const ok = await redis.eval(RATE, 1, `${opts.prefix}:relay:rate:${host.toLowerCase()}:${window}`, '61000', String(opts.ratePerMinute));
      return ok === 1;
    },
    async refresh() {
      const t = now();
      await Promise.all([...held.values()].map((l) => redis.zadd(key(l.host), 'XX', String(t + opts.leaseTtlMs), l.id)));
    },
    held: () => held.size,
  };
}
