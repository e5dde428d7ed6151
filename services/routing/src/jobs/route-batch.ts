// A route-message job can carry the messages smtp-ingress committed together (`also`, one job
// instead of one each). Each is routed as if it had its own job; the job's outcome is decided
// here from theirs.

export interface BatchOutcome {
  /** Failed for a passing reason: the job is run again for these only. */
  retry: string[];
  /** The first of those errors (what BullMQ records for the attempt). */
  retryError: unknown;
  /** Failed for good: never tried again by this job. */
  permanent: { messageId: string; error: unknown }[];
}

export async function routeBatch(ids: readonly string[], routeOne: (messageId: string) => Promise<unknown>, isPermanent: (err: unknown) => boolean): Promise<BatchOutcome> {
  const results = await Promise.allSettled(ids.map((id) => routeOne(id)));
  const outcome: BatchOutcome = { retry: [], retryError: null, permanent: [] };
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') return;
    if (isPermanent(r.reason)) outcome.permanent.push({ messageId: ids[i]!, error: r.reason });
    else {
      if (outcome.retry.length === 0) outcome.retryError = r.reason;
      outcome.retry.push(ids[i]!);
    }
  });
  return outcome;
}
