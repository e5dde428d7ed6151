// Publishes public trace events from PostgreSQL to the Redis stream (transactional outbox).
// Writers only append to message_events inside their own transactions; this tailer, in one
// replica at a time (LOCKS.outbox), moves them to Redis in commit-safe order.
//
// Ordering: ids are assigned at insert, not at commit, so "id > last" would skip an event
// whose transaction commits late. Instead events are read by (txid, id) and only below
// pg_snapshot_xmin(pg_current_snapshot()): every transaction older than that has finished,
// so no event can still appear behind the cursor. A long-open transaction (in any database of
// the server: the horizon is cluster-wide) delays publishing, never loses events. Publishing
// is at-least-once: a crash between XADD and the cursor update republishes; consumers
// deduplicate on the event id.
import { LOCKS, withAdvisoryLock, type Pool } from '@hopmail/db';
import type { Redis } from 'ioredis';
import { publishEvents } from './stream.ts';
import { PUBLISHED_TRACE_TYPES, publicTypeOf, type PublicEvent } from './types.ts';

export interface OutboxOptions {
  batch?: number;
  maxLen?: number;
}

/**
 * One pass; returns how many events it published, or null when another replica holds the lock.
 * The lock is a transaction lock taken in the transaction that reads and moves the cursor, so
 * the cursor row and the lock are released together.
 */
export async function publishPending(pool: Pool, redis: Redis, prefix: string, o: OutboxOptions = {}): Promise<number | null> {
  return withAdvisoryLock(
    pool,
    LOCKS.outbox,
    async (client) => {
      const cur = await client.query<{ txid: string; event_id: string }>('SELECT txid::text, event_id FROM event_stream_cursor WHERE id = 1 FOR UPDATE');
      const c = cur.rows[0] ?? { txid: '0', event_id: '0' };
      const rows = await client.query<{ id: string; txid: string; message_id: string; recipient: string | null; type: string; at: Date; data: Record<string, unknown> }>(
        `SELECT id::text, txid::text, message_id, recipient, type, at, data FROM message_events
          WHERE type = ANY($4::text[]) AND (txid, id) > ($1::xid8, $2::bigint)
            AND txid < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY txid, id LIMIT $3`,
        [c.txid, c.event_id, o.batch ?? 1000, PUBLISHED_TRACE_TYPES],
      );
      if (rows.rows.length === 0) return 0;
      const events: PublicEvent[] = rows.rows.map((r) => ({
        id: r.id,
        type: publicTypeOf(r.type)!,
        at: r.at.toISOString(),
        messageId: r.message_id,
        recipient: r.recipient,
        data: { ...r.data, traceType: r.type },
      }));
      // A failed XADD throws, which rolls the cursor back: the events go again next pass.
      await publishEvents(redis, prefix, events, o.maxLen);
      const last = rows.rows.at(-1)!;
      await client.query('UPDATE event_stream_cursor SET txid = $1::xid8, event_id = $2 WHERE id = 1', [last.txid, last.id]);
      return events.length;
    },
    { scope: 'transaction' },
  );
}
