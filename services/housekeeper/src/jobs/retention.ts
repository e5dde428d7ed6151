// Retention: finished messages, the trace, the webhook delivery log and smtp-ingress's record
// of refused attempts (smtp_refusals, issue 13: a spam run adds a row per refused RCPT) would otherwise grow
// forever (a POP3 DELE removes only the mailbox's copy of a message; a relayed message is done
// once the remote said 250). One replica at a time (LOCKS.housekeeping) deletes rows past their
// retention in bounded batches, so no pass holds locks or bloats WAL for long. The audit log
// is kept: pruning it is a policy decision.
import { LOCKS, withAdvisoryLock, type Pool, type PoolClient } from '@hopmail/db';
import { PUBLISHED_TRACE_TYPES } from '@hopmail/events';
import { createPeriodic, type Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';

const BATCH = 10_000;

export interface Pruned {
  messages: number;
  events: number;
  deliveries: number;
  refusals: number;
}

export interface RetentionDays {
  /** 0 keeps messages forever. */
  messages: number;
  events: number;
  deliveries: number;
  refusals: number;
}

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

/** Runs `batch` until it deletes fewer than a full batch, or until `closing()`. */
async function inBatches(batch: () => Promise<number>, closing: () => boolean): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await batch();
    total += n;
    if (n < BATCH || closing()) return total;
  }
}

async function pruneWith(c: PoolClient, days: RetentionDays, closing: () => boolean): Promise<Pruned> {
  const messages = days.messages > 0 ? await inBatches(() => deleteFinishedMessages(c, days.messages, BATCH), closing) : 0;
  // An event of a published type goes only once the stream publisher is past it (a
  // publisher stopped for longer than the retention must not lose events unsent).
  const events = await inBatches(async () => {
    const r = await c.query(
      `DELETE FROM message_events WHERE id IN (
         SELECT e.id FROM message_events e, event_stream_cursor cur
          WHERE e.at < now() - make_interval(days => $1)
            AND (e.type <> ALL($3::text[]) OR (e.txid, e.id) <= (cur.txid, cur.event_id))
          LIMIT $2)`,
      [days.events, BATCH, PUBLISHED_TRACE_TYPES],
    );
    return r.rowCount ?? 0;
  }, closing);
  const deliveries = await inBatches(async () => {
    const r = await c.query(
      `DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < now() - make_interval(days => $1) LIMIT $2)`,
      [days.deliveries, BATCH],
    );
    return r.rowCount ?? 0;
  }, closing);
  const refusals = await inBatches(async () => {
    const r = await c.query('DELETE FROM smtp_refusals WHERE id IN (SELECT id FROM smtp_refusals WHERE at < now() - make_interval(days => $1) LIMIT $2)', [days.refusals, BATCH]);
    return r.rowCount ?? 0;
  }, closing);
  return { messages, events, deliveries, refusals };
}

export interface RetentionDeps {
  pool: Pool;
  logger: Logger;
  intervalMs: number;
  days: RetentionDays;
}

export function createRetention({ pool, logger, intervalMs, days }: RetentionDeps) {
  /** One pass now; null when another replica holds the lock. */
  async function pass(): Promise<Pruned | null> {
    const out = await withAdvisoryLock(pool, LOCKS.housekeeping, (client) => pruneWith(client, days, () => periodic.closing));
    if (out && (out.messages || out.events || out.deliveries || out.refusals)) logger.info({ event: EVENTS.retentionPruned, ...out }, 'finished messages, old trace events, webhook deliveries and refused attempts deleted');
    return out;
  }
  // The first pass soon after start (not an interval later), but not in the rush of a start-up.
  const periodic = createPeriodic(pass, {
    intervalMs,
    firstDelayMs: Math.min(intervalMs, 60_000),
    onError: (err) => logger.warn({ event: EVENTS.retentionFailed, err }, 'retention pass failed; retrying later'),
  });
  return { pass, start: () => periodic.start(), stop: () => periodic.stop() };
}
