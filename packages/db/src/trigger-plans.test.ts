// The trace triggers must not keep a plan made while the tables were small (0006): a
// connection that delivered its first message into an empty database must still look up
// recipients by index once the table has grown, before any ANALYZE.
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
      // Plans made on this connection while the tables are nearly empty.
      for (let i = 0; i < 6; i++) await deliver();
      // The tables grow; nothing analyses them.
      await db.pool.query(`
        WITH m AS (INSERT INTO messages (id, raw, size, mail_from) SELECT gen_random_uuid(), '\\x00', 1, 'a@b.test' FROM generate_series(1, 20000) RETURNING id)
        INSERT INTO recipients (message_id, address, domain) SELECT id, 'r@far.test', 'far.test' FROM m`);
      // The backend's own counters for the current transaction, before and after, in one
      // transaction: between two autocommit statements the backend may flush its pending
      // counters to pg_stat_user_tables, which made the difference negative.
      const seqScans = async () => (await client.query<{ n: number }>(`SELECT seq_scan AS n FROM pg_stat_xact_user_tables WHERE relname = 'recipients'`)).rows[0]!.n;
      const scans = await withTransaction(client, async () => {
        const before = await seqScans();
        await deliver();
        return (await seqScans()) - before;
      });
      expect(scans).toBe(0);
    } finally {
      client.release();
    }
  });
});
