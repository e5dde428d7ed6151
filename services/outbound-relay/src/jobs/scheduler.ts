// The relay's clock: one replica at a time (transaction-scoped advisory lock) turns due rows in
// PostgreSQL into deliver-remote jobs and sends DSNs still owed. It decides from PostgreSQL
// only, so lost Redis state, a dead worker or routing's own bounces all end up handled.
import { ensureJob, type Producer } from '@hopmail/queue';
import type { Pool } from '@hopmail/db';
import type { Logger } from 'pino';
import type { RelayStore } from '../adapters/store.ts';
import type { DsnSender } from './dsn.ts';
import type { RelayMetrics } from '../metrics.ts';

const SCHEDULER_LOCK = 0x686d7273; // "hmrs"

export function createScheduler(d: { pool: Pool; store: RelayStore; producer: Producer<'deliver-remote'>; dsn: DsnSender; logger: Logger; metrics: RelayMetrics; now: () => Date; batch: number }) {
  async function tick(): Promise<{ enqueued: number; dsns: number } | null> {
    const client = await d.pool.connect();
    try {
      await client.query('BEGIN');
      const lock = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SCHEDULER_LOCK]);
      if (!lock.rows[0]?.ok) {
        await client.query('ROLLBACK');
        return null;
      }
      const now = d.now();
      let enqueued = 0;
      for (const w of await d.store.due(now, d.batch)) {
        const r = await ensureJob(d.producer, { messageId: w.message_id, domain: w.domain });
        if (r !== 'present') enqueued++;
      }
      let dsns = 0;
      for (const id of await d.store.dsnOwed(d.batch)) if (await d.dsn.failures(id)) dsns++;
      d.metrics.lag.set(await d.store.lagSeconds(now));
      await client.query('COMMIT');
      if (enqueued || dsns) d.logger.info({ event: 'relay.scheduler-tick', enqueued, dsns }, 'scheduled due work');
      return { enqueued, dsns };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
  return { tick };
}
