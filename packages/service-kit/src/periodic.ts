// Passes on a timer (reconciler, relay scheduler, retention, the event publisher, webhook
// retries): never two at once in one process, the next pass `intervalMs` after the previous
// one ended (a slow pass never piles up), a failed pass logged and tried again, and a stop
// that waits, boundedly, for the pass in progress. One replica at a time is the caller's
// business (withAdvisoryLock in @hopmail/db).
import { settleWithin } from './timeout.ts';

export interface PeriodicOptions {
  /** Between the end of one pass and the start of the next. */
  intervalMs: number;
  /** Before the first pass (0: at once). Defaults to intervalMs. */
  firstDelayMs?: number;
  /** How long stop() waits for a pass in progress; its connection is closed with the pool afterwards. */
  stopTimeoutMs?: number;
  /** A pass threw: log it (the next pass runs as usual). */
  onError?: (err: unknown) => void;
}

export interface Periodic {
  start(): void;
  /** Stops the timer and waits (at most stopTimeoutMs) for a pass in progress. */
  stop(): Promise<void>;
  /** True from stop() until the next start(): a long pass should end early. */
  readonly closing: boolean;
}

export function createPeriodic(tick: () => Promise<unknown>, options: PeriodicOptions): Periodic {
  const firstDelayMs = options.firstDelayMs ?? options.intervalMs;
  const stopTimeoutMs = options.stopTimeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;
  let closing = false;

  function schedule(delay: number) {
    timer = setTimeout(() => {
      running = tick()
        .catch((err: unknown) => options.onError?.(err))
        .finally(() => {
          running = undefined;
          if (!stopped) schedule(options.intervalMs);
        });
    }, delay);
  }

  return {
    get closing() {
      return closing;
    },
    start() {
      if (!stopped) return;
      stopped = false;
      closing = false;
      schedule(firstDelayMs);
    },
    async stop() {
      stopped = true;
      closing = true;
      clearTimeout(timer);
      // A pass blocked on an unreachable database or Redis must not hold shutdown hostage.
      await settleWithin(running, stopTimeoutMs);
    },
  };
}
