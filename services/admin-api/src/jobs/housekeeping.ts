// Retention: the trace and the webhook delivery log would otherwise grow forever. One replica
// at a time (advisory lock) deletes rows past their retention in bounded batches, so no pass
// holds locks or bloats WAL for long. The audit log is kept: pruning it is a policy decision.
import type { Pool } from '@hopmail/db';
import type { Logger } from '@hopmail/service-kit';

const HOUSEKEEPING_LOCK = 0x686d686b; // "hmhk"
const BATCH = 10_000;

export function createHousekeeping(d: { pool: Pool; logger: Logger; intervalMs: number; eventsDays: number; deliveriesDays: number }) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;

  async function pass(): Promise<{ events: number; deliveries: number } | null> {
    const c = await d.pool.connect();
    try {
      const lock = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [HOUSEKEEPING_LOCK]);
      if (!lock.rows[0]?.ok) return null;
      try {
        const out = { events: 0, deliveries: 0 };
        for (;;) {
          const r = await c.query(
            `DELETE FROM message_events WHERE id IN (SELECT id FROM message_events WHERE at < now() - make_interval(days => $1) LIMIT $2)`,
            [d.eventsDays, BATCH],
          );
          out.events += r.rowCount ?? 0;
          if ((r.rowCount ?? 0) < BATCH || stopped) break;
        }
        for (;;) {
          const r = await c.query(
            `DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < now() - make_interval(days => $1) LIMIT $2)`,
            [d.deliveriesDays, BATCH],
          );
          out.deliveries += r.rowCount ?? 0;
          if ((r.rowCount ?? 0) < BATCH || stopped) break;
        }
        if (out.events || out.deliveries) d.logger.info({ event: 'housekeeping.pruned', ...out }, 'old trace events and webhook deliveries deleted');
        return out;
      } finally {
        await c.query('SELECT pg_advisory_unlock($1)', [HOUSEKEEPING_LOCK]);
      }
    } finally {
      c.release();
    }
  }

  const loop = () => {
    if (stopped) return;
    running = pass()
      .catch((err) => d.logger.warn({ event: 'housekeeping.failed', err }, 'retention pass failed; retrying later'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, d.intervalMs);
      });
  };

  return {
    start() {
      timer = setTimeout(loop, Math.min(d.intervalMs, 60_000));
    },
    pass,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
