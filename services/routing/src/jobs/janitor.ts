// The janitor: without it PostgreSQL keeps every message's raw bytes forever, since a POP3
// DELE removes only the mailbox's copy and a relayed message is done once the remote said
// 250. Every JANITOR_INTERVAL_MS it deletes
//   - messages received more than MESSAGE_RETENTION_MS ago that no mailbox holds and whose
//     recipients are all final (delivered, expanded, failed, or bounced with the DSN sent);
//     their recipient rows and relay attempts go with them (ON DELETE CASCADE);
//   - trace events older than EVENT_RETENTION_MS; those the event stream publishes only once
//     admin-api's publisher is past them.
// 0 keeps them forever. Work goes in batches of JANITOR_BATCH rows, one short transaction
// each, so a large first clean-up never holds long locks.
//
// Safe in every replica: a pass runs only while holding its own advisory lock (taken with
// pg_try_advisory_lock, so other replicas skip), and rows are claimed FOR UPDATE SKIP LOCKED.
import type { Pool, PoolClient } from '@hopmail/db';
import { PUBLISHED_TRACE_TYPES } from '@hopmail/events';
import type { Logger } from '@hopmail/service-kit';
import type { RoutingMetrics } from '../metrics.ts';
import { createPeriodic, withAdvisoryLock } from './periodic.ts';

// Any constant works as long as every replica uses the same one ("hjan").
export const JANITOR_LOCK = 0x686a616e;

export interface JanitorDeps {
  pool: Pool;
  logger: Logger;
  metrics: RoutingMetrics;
  intervalMs: number;
  messageRetentionMs: number;
  eventRetentionMs: number;
  batch: number;
}

export interface JanitorResult {
  /** false when another replica held the lock. */
  ran: boolean;
  messages: number;
  events: number;
}

export interface Janitor {
  start(): void;
  /** Stops the timer and waits (at most 5 s) for a pass in progress, which ends after its batch. */
  stop(): Promise<void>;
  runOnce(): Promise<JanitorResult>;
}

/** One batch of finished messages; returns how many were deleted. */
export async function deleteFinishedMessages(db: Pool | PoolClient, retentionMs: number, limit: number): Promise<number> {
  const r = await db.query(
    `WITH doomed AS (
       SELECT m.id FROM messages m
        WHERE m.received_at < now() - make_interval(secs => $1::double precision / 1000)
          AND NOT EXISTS (SELECT 1 FROM mailbox_messages mm WHERE mm.message_id = m.id)
          AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id
                           AND (r.status NOT IN ('delivered', 'expanded', 'failed', 'bounced')
                                OR (r.status = 'bounced' AND r.dsn_sent_at IS NULL)))
        ORDER BY m.received_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED)
     DELETE FROM messages WHERE id IN (SELECT id FROM doomed)`,
    [retentionMs, limit],
  );
  return r.rowCount ?? 0;
}

/** One batch of old trace events (published ones only once published); returns how many were deleted. */
export async function deleteOldEvents(db: Pool | PoolClient, retentionMs: number, limit: number): Promise<number> {
  const r = await db.query(
    `DELETE FROM message_events WHERE id IN (
       SELECT e.id FROM message_events e, event_stream_cursor c
        WHERE e.at < now() - make_interval(secs => $1::double precision / 1000)
          AND (e.type <> ALL($3::text[]) OR (e.txid, e.id) <= (c.txid, c.event_id))
        LIMIT $2)`,
    [retentionMs, limit, PUBLISHED_TRACE_TYPES],
  );
  return r.rowCount ?? 0;
}

export function createJanitor(deps: JanitorDeps): Janitor {
  const { pool, logger, metrics } = deps;
  const log = logger.child({ component: 'janitor' });

  async function pass(): Promise<JanitorResult> {
    const result: JanitorResult = { ran: false, messages: 0, events: 0 };
    if (deps.messageRetentionMs === 0 && deps.eventRetentionMs === 0) return result;
    const ran = await withAdvisoryLock(pool, JANITOR_LOCK, async (client) => {
      for (const [kind, retention, run] of [
        ['messages', deps.messageRetentionMs, deleteFinishedMessages],
        ['events', deps.eventRetentionMs, deleteOldEvents],
      ] as const) {
        if (retention === 0) continue;
        for (;;) {
          const n = await run(client, retention, deps.batch);
          result[kind] += n;
          metrics.janitorDeleted.inc({ kind }, n);
          if (n < deps.batch || periodic.closing) break;
        }
      }
      return true;
    });
    result.ran = ran === true;
    return result;
  }

  // First pass soon after start, so that a service restarted more often than the interval
  // still cleans up.
  const periodic = createPeriodic(
    async () => {
      try {
        const r = await pass();
        if (r.messages + r.events > 0) log.info({ event: 'janitor.done', messages: r.messages, events: r.events }, 'expired messages and trace events deleted');
      } catch (err) {
        log.warn({ event: 'janitor.failed', err }, 'janitor pass failed; the next pass will try again');
      }
    },
    deps.intervalMs,
    Math.min(deps.intervalMs, 60_000),
  );

  return { start: () => periodic.start(), stop: () => periodic.stop(), runOnce: pass };
}
