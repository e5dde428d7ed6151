// The trace and usage triggers must not keep a plan made while the tables were small (0006,
// 0028): a connection that delivered its first message into an empty database must still look
// up recipients and mailboxes by index once the tables have grown, before any ANALYZE, for
// every statement that fires them: copies delivered, alias children inserted, copies deleted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '@hopmail/mail';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { insertMessage } from './messages.ts';
import { withTransaction } from './pool.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('trace triggers on a table that grew after the connection planned', () => {
  it('delivering into a mailbox does not scan every recipient', async () => {
    const d = await db.pool.query<{ id: number }>(`INSERT INTO domains (name) VALUES ('plans.test') RETURNING id`);
    const mb = await db.pool.query<{ id: number }>(
      `INSERT INTO mailboxes (domain_id, local_part, address, password_hash) VALUES ($1, 'u', 'u@plans.test', 'x') RETURNING id`,
      [d.rows[0]!.id],
    );
    const mailbox = mb.rows[0]!.id;
    const client = await db.pool.connect();
    try {
      // Ten messages into the mailbox in one statement, as routing's batches do.
      const deliver = async () => {
        const ids = Array.from({ length: 10 }, () => newMessageId());
        for (const id of ids) await insertMessage(db.pool, { id, raw: Buffer.from('Subject: x\r\n\r\nx\r\n'), mailFrom: 'a@b.test', recipients: ['u@plans.test'] });
        await client.query(
          `INSERT INTO mailbox_messages (mailbox_id, message_id, recipient_id, uidl, size)
           SELECT $1, r.message_id, r.id, r.message_id::text, 10 FROM unnest($2::uuid[]) AS m(id) JOIN LATERAL (SELECT * FROM recipients WHERE message_id = m.id OFFSET 0) r ON true`,
          [mailbox, ids],
        );
      };
      // Alias children inserted already decided (hopmail_ev_recipients_ins joins their originals).
      const children = async () => {
        const parent = (await client.query<{ id: string; message_id: string }>(`SELECT id, message_id FROM recipients WHERE address = 'u@plans.test' ORDER BY id DESC LIMIT 1`)).rows[0]!;
        await client.query(
          `INSERT INTO recipients (message_id, address, domain, original_id, status, last_reply)
           SELECT $1, 'c' || g || '-' || $2::text || '@far.test', 'far.test', $2::bigint, 'bounced', '550 no' FROM generate_series(1, 3) g`,
          [parent.message_id, parent.id],
        );
      };
      const remove = async () => {
        await client.query(`DELETE FROM mailbox_messages WHERE id IN (SELECT id FROM mailbox_messages WHERE mailbox_id = $1 ORDER BY id LIMIT 5)`, [mailbox]);
      };
      const all = async () => {
        await deliver();
        await children();
        await remove();
      };
      // Plans made on this connection while the tables are nearly empty.
      for (let i = 0; i < 6; i++) await all();
      // The tables grow; nothing analyses them.
      await db.pool.query(`
        WITH m AS (INSERT INTO messages (id, raw, size, mail_from) SELECT gen_random_uuid(), '\\x00', 1, 'a@b.test' FROM generate_series(1, 20000) RETURNING id)
        INSERT INTO recipients (message_id, address, domain) SELECT id, 'r@far.test', 'far.test' FROM m`);
      await db.pool.query(
        `INSERT INTO mailboxes (domain_id, local_part, address, password_hash) SELECT $1, 'm' || g, 'm' || g || '@plans.test', 'x' FROM generate_series(1, 3000) g`,
        [d.rows[0]!.id],
      );
      // The backend's own counters for the current transaction, before and after, in one
      // transaction: between two autocommit statements the backend may flush its pending
      // counters to pg_stat_user_tables, which made the difference negative.
      const seqScans = async () =>
        (await client.query<{ relname: string; n: number; rows: number }>(`SELECT relname, seq_scan::int AS n, (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int AS rows FROM pg_stat_xact_user_tables WHERE relname IN ('recipients', 'mailboxes') ORDER BY relname`)).rows;
      const scans = await withTransaction(client, async () => {
        const before = await seqScans();
        await all();
        const after = await seqScans();
        // Rows read: a walk over a whole index (a plan made while the table was small) counts too.
        return after.map((a, i) => ({ table: a.relname, seqScans: a.n - before[i]!.n, fewRows: a.rows - before[i]!.rows < 200 }));
      });
      expect(scans).toEqual([
        { table: 'mailboxes', seqScans: 0, fewRows: true },
        { table: 'recipients', seqScans: 0, fewRows: true },
      ]);
      // And what they wrote: the events and the counters.
      const usage = await db.pool.query<{ n: number; count: number }>(`SELECT (SELECT count(*)::int FROM mailbox_messages WHERE mailbox_id = $1) AS n, message_count AS count FROM mailboxes WHERE id = $1`, [mailbox]);
      expect(usage.rows[0]!.count).toBe(usage.rows[0]!.n);
      const events = await db.pool.query<{ type: string; n: number }>(`SELECT type, count(*)::int AS n FROM message_events WHERE type <> 'received' GROUP BY type ORDER BY type`);
      expect(events.rows).toEqual([
        { type: 'bounced', n: 21 },
        { type: 'deleted-by-pop3', n: 35 },
        { type: 'delivered-mailbox', n: 70 },
      ]);
    } finally {
      client.release();
    }
  });
});
