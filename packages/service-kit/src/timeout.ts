// Bounded waits. A promise that may never settle (a Redis command queued while Redis is away,
// a pass blocked on an unreachable database) gets a deadline here, and the timer is always
// cleared, so nothing keeps the process alive or leaks a rejection.

export class TimeoutError extends Error {
  readonly code = 'timeout';
  readonly ms: number;
  constructor(what: string, ms: number) {
    super(`${what} did not finish within ${ms} ms`);
    this.name = 'TimeoutError';
    this.ms = ms;
  }
}

/** `p`, or a TimeoutError after `ms` ("<what> did not finish within <ms> ms"). */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Waits for `p` at most `ms` and never rejects: true when it settled in time (either way),
 * false at the deadline. For shutdown steps that must not hold the process hostage.
 */
export async function settleWithin(p: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (!p) return true;
  return withTimeout(
    p.then(
      () => true,
      () => true,
    ),
    ms,
  ).catch(() => false);
}
