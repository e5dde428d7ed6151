// The janitor against real PostgreSQL: which messages and trace events expire, and which stay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { createLogger, prom } from '@hopmail/service-kit';
import { createMetrics } from '../metrics.ts';
import { addDomain, addMailbox, newMessage } from '../test/fixtures.ts';
import { createJanitor, JANITOR_LOCK } from './janitor.ts';

const DAY = 86_400_000;
let db: TestDatabase;
let mailbox: number;

beforeAll(async () => {
  db = await createTestDatabase();
  await addDomain(db.pool, 'example.org');
  mailbox = await addMailbox(db.pool, 'alice@example.org');
});
afterAll(async () => {
  await db.drop();
});

function janitor(opts: { messageRetentionMs?: number; eventRetentionMs?: number; batch?: number } = {}) {
  return createJanitor({
    pool: db.pool,
    logger: createLogger('routing', 'silent'),
    metrics: createMetrics(new prom.Registry()),
    intervalMs: 60_000,
    messageRetentionMs: opts.messageRetentionMs ?? 7 * DAY,
    eventRetentionMs: opts.eventRetentionMs ?? 0,
    batch: opts.batch ?? 1000,
  });
}

/** A message received `ageDays` ago whose recipients have `status` (and a DSN sent if asked). */
async function message(ageDays: number, status: string, opts: { inMailbox?: boolean; dsnSent?: boolean; recipients?: string[] } = {}): Promise<string> {
  const id = await newMessage(db.pool, opts.recipients ?? ['alice@example.org']);
  await db.pool.query(`UPDATE messages SET received_at = now() - make_interval(days => $2) WHERE id = $1`, [id, ageDays]);
  await db.pool.query(`UPDATE recipients SET status = $2, dsn_sent_at = CASE WHEN $3 THEN now() END WHERE message_id = $1`, [id, status, opts.dsnSent ?? false]);
  if (opts.inMailbox) {
    await db.pool.query(
      `INSERT INTO mailbox_messages (mailbox_id, message_id, recipient_id, uidl, size) SELECT $1, $2::uuid, id, $2::text, 10 FROM recipients WHERE message_id = $2::uuid`,
      [mailbox, id],
    );
  }
  return id;
}

const exists = async (id: string) => (await db.pool.query('SELECT 1 FROM messages WHERE id = $1', [id])).rowCount === 1;

describe('janitor', () => {
  it('deletes finished messages past retention that no mailbox holds, with their recipients; keeps everything else', async () => {
    const gone = {
      delivered: await message(8, 'delivered'),
      failed: await message(8, 'failed'),
      bouncedDsnSent: await message(8, 'bounced', { dsnSent: true }),
      expanded: await message(8, 'expanded'),
    };
    const kept = {
      inMailbox: await message(8, 'delivered', { inMailbox: true }),
      bouncedNoDsn: await message(8, 'bounced'),
      queued: await message(8, 'queued'),
      relay: await message(8, 'relay'),
      deferred: await message(8, 'deferred'),
      held: await message(8, 'held'),
      young: await message(6, 'delivered'),
    };
    // One recipient delivered, one still deferred: the message is not finished.
    const mixed = await message(8, 'delivered', { recipients: ['alice@example.org', 'x@far.test'] });
    await db.pool.query(`UPDATE recipients SET status = 'deferred' WHERE message_id = $1 AND address = 'x@far.test'`, [mixed]);

    const r = await janitor().runOnce();
    expect(r.ran).toBe(true);
    expect(r.messages).toBe(4);
    for (const [name, id] of Object.entries(gone)) expect(await exists(id), name).toBe(false);
    for (const [name, id] of Object.entries(kept)) expect(await exists(id), name).toBe(true);
    expect(await exists(mixed)).toBe(true);
    const orphans = await db.pool.query('SELECT count(*)::int AS n FROM recipients WHERE message_id = ANY($1::uuid[])', [Object.values(gone)]);
    expect(orphans.rows[0].n).toBe(0);

    // POP3 deletes the copy: the message expires at the next pass.
    await db.pool.query('DELETE FROM mailbox_messages WHERE message_id = $1', [kept.inMailbox]);
    expect((await janitor().runOnce()).messages).toBe(1);
    expect(await exists(kept.inMailbox)).toBe(false);
  });

  it('works through more than one batch in a pass; retention 0 keeps everything', async () => {
    const ids = await Promise.all(Array.from({ length: 7 }, () => message(30, 'delivered')));
    expect((await janitor({ messageRetentionMs: 0 }).runOnce()).messages).toBe(0);
    expect((await janitor({ batch: 2 }).runOnce()).messages).toBe(7);
    for (const id of ids) expect(await exists(id)).toBe(false);
  });

  it('deletes old trace events; published types only once the event stream is past them', async () => {
    const id = await message(0, 'delivered');
    const add = (type: string, ageDays: number) =>
      db.pool.query<{ id: number; txid: string }>(
        `INSERT INTO message_events (message_id, type, at) VALUES ($1, $2, now() - make_interval(days => $3)) RETURNING id, txid::text`,
        [id, type, ageDays],
      );
    const oldRouted = (await add('routed', 40)).rows[0]!.id; // never published
    const oldPublishedBefore = (await add('delivered', 40)).rows[0]!;
    await db.pool.query('UPDATE event_stream_cursor SET txid = $1::xid8, event_id = $2', [oldPublishedBefore.txid, oldPublishedBefore.id]);
    const oldPublishedAfter = (await add('bounced', 40)).rows[0]!.id; // not yet published
    const young = (await add('routed', 1)).rows[0]!.id;

    const r = await janitor({ messageRetentionMs: 0, eventRetentionMs: 30 * DAY }).runOnce();
    const left = (await db.pool.query<{ id: number }>('SELECT id FROM message_events WHERE id = ANY($1::bigint[])', [[oldRouted, oldPublishedBefore.id, oldPublishedAfter, young]])).rows.map((x) => x.id);
    expect(left.sort()).toEqual([oldPublishedAfter, young].sort());
    expect(r.events).toBeGreaterThanOrEqual(2);
  });

  it('runs in one replica at a time: a pass skips while another holds the lock', async () => {
    const id = await message(30, 'delivered');
    const other = await db.pool.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [JANITOR_LOCK]);
      expect(await janitor().runOnce()).toEqual({ ran: false, messages: 0, events: 0 });
      expect(await exists(id)).toBe(true);
      await other.query('SELECT pg_advisory_unlock($1)', [JANITOR_LOCK]);
    } finally {
      other.release();
    }
    expect((await janitor().runOnce()).messages).toBe(1);
  });
});
