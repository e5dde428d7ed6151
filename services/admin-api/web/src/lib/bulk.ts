// A bulk queue action over many recipients, in steps of `step` rows (the API's maxRows and
// cursor), reporting progress after each step; stops when the API says it is done or when
// cancelled (pure: the request is passed in).

export interface StepResult {
  matched: number;
  changed: number;
  jobs: number;
  nextCursor: string | null;
}

export interface BulkProgress {
  /** Rows walked so far (matched). */
  done: number;
  changed: number;
  jobs: number;
  /** The count shown in the confirmation; done may pass it when the queue grew meanwhile. */
  total: number;
  finished: boolean;
}

export async function runBulk(
  step: (cursor: string | undefined, maxRows: number) => Promise<StepResult>,
  o: { total: number; stepRows: number; onProgress: (p: BulkProgress) => void; cancelled?: () => boolean },
): Promise<BulkProgress> {
  const p: BulkProgress = { done: 0, changed: 0, jobs: 0, total: o.total, finished: false };
  let cursor: string | undefined;
  for (let i = 0; i < 100_000; i++) {
    const r = await step(cursor, o.stepRows);
    p.done += r.matched;
    p.changed += r.changed;
    p.jobs += r.jobs;
    if (r.nextCursor === null) {
      p.finished = true;
      o.onProgress({ ...p });
      return p;
    }
    o.onProgress({ ...p });
    if (o.cancelled?.()) return p;
    cursor = r.nextCursor;
  }
  return p;
}

/** 0..100 for a progress bar. */
export function percent(p: BulkProgress): number {
  if (p.finished) return 100;
  if (p.total <= 0) return 0;
  return Math.min(99, Math.floor((p.done / p.total) * 100));
}
