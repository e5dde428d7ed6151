// Retention: finished messages, the trace and the webhook delivery log would otherwise grow
// forever (a POP3 DELE removes only the mailbox's copy of a message; a relayed message is done
// once the remote said 250). One replica at a time (advisory lock) deletes rows past their
// retention in bounded batches, so no pass holds locks or bloats WAL for long. The audit log
// is kept: pruning it is a policy decision.
import type { Pool, PoolClient } from '@hopmail/db';
import { PUBLISHED_TRACE_TYPES } from '@hopmail/events';
import type { Logger } from '@hopmail/service-kit';

const HOUSEKEEPING_LOCK = 0x686d686b; // "hmhk"
const BATCH = 10_000;

/**
 * One batch of finished messages: received more than `days` ago, in no mailbox, and every
 * recipient final (delivered, expanded, failed, or bounced with its DSN sent). Recipient rows
 * and relay attempts go with them (ON DELETE CASCADE); the trace stays until it expires.
 * Rows are claimed FOR UPDATE SKIP LOCKED. Returns how many were deleted.
 */
export async function deleteFinishedMessages(db: Pool | PoolClient, days: number, limit: number): Promise<number> {
  const r = await db.query(
    `WITH doomed AS (
       SELECT m.id FROM messages m
        WHERE m.received_at < now() - make_interval(days => $1)
          AND NOT EXISTS (SELECT 1 FROM mailbox_messages mm WHERE mm.message_id = m.id)
          AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id
                           AND (r.status NOT IN ('delivered', 'expanded', 'failed', 'bounced')
                                OR (r.status = 'bounced' AND r.dsn_sent_at IS NULL)))
        ORDER BY m.received_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED)
     DELETE FROM messages WHERE id IN (SELECT id FROM doomed)`,
    [days, limit],
  );
  return r.rowCount ?? 0;
}

export function createHousekeeping(d: { pool: Pool; logger: Logger; intervalMs: number; eventsDays: number; deliveriesDays: number; messagesDays: number }) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;

  async function pass(): Promise<{ messages: number; events: number; deliveries: number } | null> {
    const c = await d.pool.connect();
    try {
      const lock = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [HOUSEKEEPING_LOCK]);
      if (!lock.rows[0]?.ok) return null;
      try {
        const out = { messages: 0, events: 0, deliveries: 0 };
        // 0 keeps messages forever.
        while (d.messagesDays > 0) {
          const n = await deleteFinishedMessages(c, d.messagesDays, BATCH);
          out.messages += n;
          if (n < BATCH || stopped) break;
        }
        for (;;) {
          // An event of a published type goes only once the stream publisher is past it (a
          // publisher stopped for longer than the retention must not lose events unsent).
          const r = await c.query(
            `DELETE FROM message_events WHERE id IN (
               SELECT e.id FROM message_events e, event_stream_cursor cur
                WHERE e.at < now() - make_interval(days => $1)
                  AND (e.type <> ALL($3::text[]) OR (e.txid, e.id) <= (cur.txid, cur.event_id))
                LIMIT $2)`,
            [d.eventsDays, BATCH, PUBLISHED_TRACE_TYPES],
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
        if (out.messages || out.events || out.deliveries) d.logger.info({ event: 'housekeeping.pruned', ...out }, 'finished messages, old trace events and webhook deliveries deleted');
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
