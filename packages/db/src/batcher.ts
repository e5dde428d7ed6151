/**
 * A micro-batcher for round trips to PostgreSQL. Calls made while earlier batches are in
 * flight (or in the same event-loop turn) are handed to `many` together — one statement,
 * one implicit transaction, one WAL flush — and each caller's promise settles with its own
 * result only when that statement is done. Under light load a call runs alone at once.
 *
 * A failed batch is run again item by item with `one`, so one bad item (a foreign-key
 * violation, a deadlock with another batch) cannot fail the others; each caller then sees
 * its own result or its own error.
 *
 * `key`: two calls with the same key never share a batch (the later one waits for the next),
 * for statements where one row appearing twice would be ambiguous.
 *
 * `minIntervalMs`: a batch starts no sooner than this after the previous one started; calls
 * made meanwhile wait and go together. A call to a batcher idle for longer runs at once, so
 * this adds no latency under light load and caps the batches per second under heavy load.
 */
export interface BatcherOptions<I> {
  /** Batches in flight at once (PostgreSQL connections this batcher may hold). */
  maxInFlight?: number;
  /** Items per batch. */
  maxBatch?: number;
  key?: (item: I) => string;
  minIntervalMs?: number;
}

export type Batcher<I, R> = (item: I) => Promise<R>;

export function createBatcher<I, R>(
  many: (items: readonly I[]) => Promise<readonly R[]>,
  one: (item: I) => Promise<R>,
  options: BatcherOptions<I> = {},
): Batcher<I, R> {
  const maxInFlight = options.maxInFlight ?? 4;
  const maxBatch = options.maxBatch ?? 64;
  const key = options.key;
  const minIntervalMs = options.minIntervalMs ?? 0;
  let lastStart = -Infinity;
  type Pending = { item: I; resolve: (r: R) => void; reject: (e: unknown) => void };
  let queue: Pending[] = [];
  let inFlight = 0;
  let scheduled = false;

  const take = (): Pending[] => {
    if (!key) return queue.splice(0, maxBatch);
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const seen = new Set<string>();
    for (const p of queue) {
      const k = key(p.item);
      if (batch.length < maxBatch && !seen.has(k)) {
        seen.add(k);
        batch.push(p);
      } else rest.push(p);
    }
    queue = rest;
    return batch;
  };

  const run = async (batch: Pending[]): Promise<void> => {
    if (batch.length === 1) {
      const p = batch[0]!;
      await one(p.item).then(p.resolve, p.reject);
      return;
    }
    let results: readonly R[];
    try {
      results = await many(batch.map((p) => p.item));
    } catch {
      await Promise.all(batch.map((p) => one(p.item).then(p.resolve, p.reject)));
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]!));
  };

  const pump = () => {
    scheduled = false;
    while (inFlight < maxInFlight && queue.length > 0) {
      if (minIntervalMs > 0) {
        const wait = lastStart + minIntervalMs - performance.now();
        if (wait > 0) {
          scheduled = true;
          setTimeout(pump, wait);
          return;
        }
        lastStart = performance.now();
      }
      const batch = take();
      inFlight++;
      void run(batch).finally(() => {
        inFlight--;
        // A pump already due (this turn's, or the interval's timer) takes the rest.
        if (!scheduled) pump();
      });
    }
  };

  return (item) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      // Let every caller that gets here in this turn join the batch.
      if (!scheduled) {
        scheduled = true;
        setImmediate(pump);
      }
    });
}
