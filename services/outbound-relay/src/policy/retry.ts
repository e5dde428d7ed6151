// Retry schedule, expiry and delay warnings (pure; `now` is injected so tests use a fake clock).

export interface RetryPolicy {
  /** Explicit delays in ms; the last one repeats. Empty: min doubling up to max. */
  schedule: readonly number[];
  minMs: number;
  maxMs: number;
  maxAgeMs: number;
  /** 0: no delay warnings. */
  delayWarningMs: number;
}

/** Delay before the next try after `attempts` failed tries (attempts >= 1). */
export function retryDelay(p: RetryPolicy, attempts: number): number {
  const n = Math.max(1, attempts);
  if (p.schedule.length) return p.schedule[Math.min(n, p.schedule.length) - 1]!;
  return Math.min(p.maxMs, p.minMs * 2 ** Math.min(n - 1, 30));
}

export interface DeferDecision {
  /** 'retry' with the next time, or 'expire' when the message is too old to try again. */
  kind: 'retry' | 'expire';
  nextAttemptAt: Date;
}

/**
 * After a temporary failure: when to try again, or give up. A retry that would land after
 * the expiry time is replaced by one try at the expiry time (Postfix behaves alike), so a
 * message is never bounced earlier than maxAge nor held much longer.
 */
export function afterTemporaryFailure(p: RetryPolicy, receivedAt: Date, attempts: number, now: Date): DeferDecision {
  const expiresAt = receivedAt.getTime() + p.maxAgeMs;
  if (now.getTime() >= expiresAt) return { kind: 'expire', nextAttemptAt: now };
  const next = Math.min(now.getTime() + retryDelay(p, attempts), expiresAt);
  return { kind: 'retry', nextAttemptAt: new Date(next) };
}

export function isExpired(p: RetryPolicy, receivedAt: Date, now: Date): boolean {
  return now.getTime() >= receivedAt.getTime() + p.maxAgeMs;
}

export function needsDelayWarning(p: RetryPolicy, receivedAt: Date, now: Date, alreadyWarned: boolean): boolean {
  return p.delayWarningMs > 0 && !alreadyWarned && now.getTime() - receivedAt.getTime() >= p.delayWarningMs;
}

export function willRetryUntil(p: RetryPolicy, receivedAt: Date): Date {
  return new Date(receivedAt.getTime() + p.maxAgeMs);
}
