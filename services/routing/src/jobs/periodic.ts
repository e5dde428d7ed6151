// Passes on a timer, never two at once, and a PostgreSQL advisory lock so that one replica
// at a time runs a pass (the reconciler).

import type { Pool, PoolClient } from '@hopmail/db';

/**
 * Runs `fn` on a dedicated connection while holding the session advisory lock `key`, taken
 * with pg_try_advisory_lock so that other replicas skip rather than queue up behind it.
 * Returns null, without running `fn`, when another session holds the lock. If the process
 * dies the session ends and the lock goes with it; a connection whose unlock failed is
 * dropped, which releases it too.
 */
export async function withAdvisoryLock<T>(pool: Pool, key: number, fn: (client: PoolClient) => Promise<T>): Promise<T | null> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const got = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
    if (!got.rows[0]?.locked) return null;
    try {
      return await fn(client);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [key]).catch((err: Error) => {
        broken = err;
      });
    }
  } catch (err) {
    broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

export interface Periodic {
  start(): void;
  /** Stops the timer and waits (at most 5 s) for a pass in progress. */
  stop(): Promise<void>;
  /** True from stop() until the next start(): a long pass should end early. */
  readonly closing: boolean;
}

/** Calls `tick` `firstDelayMs` after start(), then `intervalMs` after each pass ends. */
export function createPeriodic(tick: () => Promise<void>, intervalMs: number, firstDelayMs: number): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = true;
  let closing = false;

  function schedule(delay: number) {
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = undefined;
        if (!stopped) schedule(intervalMs);
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
      // A pass blocked on an unreachable database or Redis must not hold shutdown hostage;
      // its connection is closed with the pool, which releases its lock.
      let t: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((r) => (t = setTimeout(r, 5000)))]);
      clearTimeout(t);
    },
  };
}
