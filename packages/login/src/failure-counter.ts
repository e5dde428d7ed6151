// Failed-login counters shared by every replica (Redis), per account and per client
// address, over a fixed window that starts at the first failure. One set of counters for
// every protocol (pop3, imap): guessing over IMAP spends the same budget as over POP3.
import { withTimeout } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';

export interface FailureCounterOptions {
  prefix: string;
  windowSeconds: number;
  /** A login never waits longer than this for Redis; on timeout the counters are skipped. */
  timeoutMs: number;
}

export class FailureCounter {
  private readonly redis: Redis;
  private readonly options: FailureCounterOptions;
  constructor(redis: Redis, options: FailureCounterOptions) {
    this.redis = redis;
    this.options = options;
  }

  private keys(user: string, ip: string): { account: string; ip: string } {
    const p = this.options.prefix;
    return { account: `${p}:login:authfail:acct:${user.toLowerCase()}`, ip: `${p}:login:authfail:ip:${ip}` };
  }

  /** Failures in the window; nulls when Redis did not answer in time. */
  async failures(user: string, ip: string): Promise<{ account: number | null; ip: number | null }> {
    const k = this.keys(user, ip);
    const r = await this.bounded(this.redis.mget(k.account, k.ip));
    if (!r) return { account: null, ip: null };
    return { account: Number(r[0] ?? 0), ip: Number(r[1] ?? 0) };
  }

  /** Returns false when the failure could not be recorded (Redis down). */
  async record(user: string, ip: string): Promise<boolean> {
    const k = this.keys(user, ip);
    const w = this.options.windowSeconds;
    const m = this.redis.multi();
    // SET NX EX first so the window starts at the first failure and INCR never leaves a key without TTL.
    for (const key of [k.account, k.ip]) m.set(key, '0', 'EX', w, 'NX').incr(key);
    return (await this.bounded(m.exec())) !== null;
  }

  /** Redis's answer, or null when it failed or did not come within the timeout. */
  private bounded<T>(p: Promise<T>): Promise<T | null> {
    return withTimeout(p, this.options.timeoutMs, 'Redis').catch(() => null);
  }
}
