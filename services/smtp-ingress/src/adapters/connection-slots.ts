// Concurrent sessions per client (IPv4 address or IPv6 /64), counted across every replica:
// one Redis sorted set per client whose members are this replica's sessions, scored by when
// their lease ends. A replica refreshes its sessions' leases every third of a lease
// (heartbeat), so the slots of a replica that crashed (SIGKILL, lost host) expire by
// themselves instead of leaking. Times are Redis's (TIME), so replicas' clocks may differ.
//   <prefix>:smtp:conn:<client>  zset  "<replica>:<session>" → lease end (ms)
// Redis trouble never refuses a client: the count then reads 0.

import { randomUUID } from 'node:crypto';
import { withTimeout } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { clientKey } from './auth-limiter.ts';

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// Expired leases out, then a slot when one is free: the count with it, or minus the count when full.
const ACQUIRE = `${NOW}
local key, member, limit, lease = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
local n = redis.call('ZCARD', key)
if n >= limit then return -n end
redis.call('ZADD', key, now + lease, member)
redis.call('PEXPIRE', key, lease)
return n + 1`;

// XX: a session released meanwhile is not brought back.
const REFRESH = `${NOW}
local lease = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + lease, ARGV[i + 1])
  redis.call('PEXPIRE', key, lease)
end
return #KEYS`;

export interface ConnectionSlots {
  /** Takes a slot for the session: the client's sessions with it, or null when `limit` are already open (0 when Redis did not answer). */
  acquire(sessionId: string, ip: string, limit: number): Promise<number | null>;
  /** Frees the session's slot (no-op when it had none). */
  release(sessionId: string): void;
  /** Stops the heartbeat (shutdown: the open sessions release their slots as they close). */
  close(): void;
}

export function createConnectionSlots(deps: { redis: Redis; prefix: string; leaseMs: number; timeoutMs?: number; onError(err: unknown): void }): ConnectionSlots {
  const timeoutMs = deps.timeoutMs ?? 500;
  const replica = randomUUID();
  const held = new Map<string, string>(); // session → key
  const member = (sessionId: string) => `${replica}:${sessionId}`;
  const remove = (key: string, sessionId: string) => void deps.redis.zrem(key, member(sessionId)).catch(deps.onError);

  const heartbeat = setInterval(() => {
    if (held.size === 0) return;
    const keys = [...held.values()];
    const members = [...held.keys()].map(member);
    deps.redis.eval(REFRESH, keys.length, ...keys, deps.leaseMs, ...members).catch(deps.onError);
  }, Math.max(100, Math.floor(deps.leaseMs / 3)));
  heartbeat.unref();

  return {
    async acquire(sessionId, ip, limit) {
      const key = `${deps.prefix}:smtp:conn:${clientKey(ip)}`;
      held.set(sessionId, key);
      let n: number;
      try {
        n = Number(await withTimeout(deps.redis.eval(ACQUIRE, 1, key, member(sessionId), limit, deps.leaseMs) as Promise<number>, timeoutMs, 'connection slots (Redis)'));
      } catch (err) {
        deps.onError(err);
        return 0;
      }
      if (n < 0) held.delete(sessionId);
      // Closed while Redis answered: the slot just taken goes back.
      else if (!held.has(sessionId)) remove(key, sessionId);
      return n < 0 ? null : n;
    },
    release(sessionId) {
      const key = held.get(sessionId);
      if (key === undefined) return;
      held.delete(sessionId);
      remove(key, sessionId);
    },
    close() {
      clearInterval(heartbeat);
    },
  };
}
