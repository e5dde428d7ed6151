// Appending to the trace. Pass the client of an open transaction to record an event
// atomically with the change it describes; a pool works for stand-alone events.
import type pg from 'pg';
import type { MessageEvent } from './types.ts';

type Db = Pick<pg.Pool | pg.PoolClient, 'query'>;

export async function recordEvent(db: Db, event: MessageEvent): Promise<void> {
  await recordEvents(db, [event]);
}

/** Several events in one statement (one round trip). */
export async function recordEvents(db: Db, events: readonly MessageEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.query(
    `INSERT INTO message_events (message_id, recipient, type, service, actor, data, at)
     SELECT e.message_id, e.recipient, e.type, e.service, e.actor, e.data, coalesce(e.at, clock_timestamp())
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[])
            AS e(message_id, recipient, type, service, actor, data, at)`,
    [
      events.map((e) => e.messageId),
      events.map((e) => e.recipient ?? null),
      events.map((e) => e.type),
      events.map((e) => e.service ?? null),
      events.map((e) => e.actor ?? null),
      events.map((e) => JSON.stringify(e.data)),
      events.map((e) => e.at ?? null),
    ],
  );
}
