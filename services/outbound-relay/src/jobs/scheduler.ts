// The relay's clock: one replica at a time (the transaction-scoped advisory lock
// LOCKS.relayScheduler; the others skip the pass) turns due rows in PostgreSQL into
// deliver-remote jobs and, as the reconciler of the DSN hand-off, bounced rows still owed a
// DSN into send-dsn jobs. It decides from PostgreSQL only, so lost Redis state, a dead worker,
// a send-dsn job finish() could not add, or routing's own bounces all end up handled.
import { LOCKS, withAdvisoryLock, type Pool } from '@hopmail/db';
import { ensureJob, type Producer } from '@hopmail/queue';
import type { Logger } from 'pino';
import type { DsnStore } from '../adapters/dsn-store.ts';
import type { RelayStore } from '../adapters/store.ts';
import { EVENTS } from '../events.ts';
import type { RelayMetrics } from '../metrics.ts';

export interface SchedulerDeps {
  pool: Pool;
  store: RelayStore;
  dsnStore: DsnStore;
  deliverRemote: Producer<'deliver-remote'>;
  sendDsn: Producer<'send-dsn'>;
  logger: Logger;
  metrics: RelayMetrics;
  now: () => Date;
  /** Rows of each kind handled per pass. */
  batch: number;
}

export interface SchedulerPass {
  /** deliver-remote jobs added or retried. */
  enqueued: number;
  /** send-dsn jobs (reason failed) added or retried. */
  dsnJobs: number;
}

export function createScheduler({ pool, store, dsnStore, deliverRemote, sendDsn, logger, metrics, now: clock, batch }: SchedulerDeps) {
  /** One pass; null when another replica holds the lock. */
  async function tick(): Promise<SchedulerPass | null> {
    const pass = await withAdvisoryLock(
      pool,
      LOCKS.relayScheduler,
      async () => {
        const now = clock();
        let enqueued = 0;
        for (const w of await store.due(now, batch)) {
          if ((await ensureJob(deliverRemote, { messageId: w.message_id, domain: w.domain })) !== 'present') enqueued++;
        }
        let dsnJobs = 0;
        for (const messageId of await dsnStore.owedFailures(batch)) {
          if ((await ensureJob(sendDsn, { messageId, reason: 'failed' })) !== 'present') dsnJobs++;
        }
        for (const messageId of await dsnStore.owedSuccesses(batch)) {
          if ((await ensureJob(sendDsn, { messageId, reason: 'success' })) !== 'present') dsnJobs++;
        }
        metrics.lag.set(await store.lagSeconds(now));
        return { enqueued, dsnJobs };
      },
      { scope: 'transaction' },
    );
    if (pass && (pass.enqueued || pass.dsnJobs)) logger.info({ event: EVENTS.schedulerTick, ...pass }, 'scheduled due work');
    return pass;
  }
  return { tick };
}

export type Scheduler = ReturnType<typeof createScheduler>;
