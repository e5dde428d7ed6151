// Failed AUTH counters shared by every replica: one Redis key per client address (IPv6: per
// /64) and one per user name (attempted, existing or not), each expiring
// AUTH_FAILURE_WINDOW_MS after its first failure. Redis trouble never blocks logins: the counters then read 0.

import { isIPv6 } from 'node:net';
import { withTimeout } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import type { AuthLimiter } from '../ports.ts';

const MAX_USER_KEY = 320;

/**
 * The unit an attacker pays for: one IPv4 address, or one IPv6 /64 (a single host usually
 * owns a whole /64 and can pick any address in it). IPv4-mapped IPv6 counts as IPv4.
 */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export function createAuthLimiter(deps: { redis: Redis; prefix: string; windowMs: number; timeoutMs?: number; onError(err: unknown): void }): AuthLimiter {
  const timeoutMs = deps.timeoutMs ?? 500;
  const ipKey = (ip: string) => `${deps.prefix}:smtp:auth-fail:ip:${clientKey(ip)}`;
  const userKey = (u: string) => `${deps.prefix}:smtp:auth-fail:user:${u.toLowerCase().slice(0, MAX_USER_KEY)}`;
  // ioredis queues commands while disconnected: never let that hold a login.
  const bounded = <T>(command: Promise<T>, fallback: T): Promise<T> =>
    withTimeout(command, timeoutMs, 'failed-AUTH counters (Redis)').catch((err: unknown) => {
      deps.onError(err);
      return fallback;
    });
  return {
    failures: (ip, username) =>
      bounded(
        deps.redis.mget(ipKey(ip), userKey(username)).then(([a, b]) => ({ ip: Number(a ?? 0), account: Number(b ?? 0) })),
        { ip: 0, account: 0 },
      ),
    recordFailure: (ip, username) =>
      bounded(
        deps.redis
          .multi()
          .incr(ipKey(ip))
          .pexpire(ipKey(ip), deps.windowMs, 'NX')
          .incr(userKey(username))
          .pexpire(userKey(username), deps.windowMs, 'NX')
          .exec()
          .then(() => undefined),
        undefined,
      ),
    recordSuccess: (username) => bounded(deps.redis.del(userKey(username)).then(() => undefined), undefined),
  };
}
