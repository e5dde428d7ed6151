// mailbox_messages carries the indexes its readers need and no more (migration 0031): every
// copy delivered and every flag change writes each of them. The lookups the dropped
// (mailbox_id, message_id) index used to serve still read by index on a grown table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';

let db: TestDatabase;
let mailboxes: number[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  const d = await db.pool.query<{ id: number }>(`INSERT INTO domains (name) VALUES ('idx.test') RETURNING id`);
  const mb = await db.pool.query<{ id: number }>(
    `INSERT INTO mailboxes (domain_id, local_part, address, password_hash)
     SELECT $1, 'u' || i, 'u' || i || '@idx.test', 'x' FROM generate_series(1, 20) i RETURNING id`,
    [d.rows[0]!.id],
  );
  mailboxes = mb.rows.map((r) => r.id);
  // 20,000 copies over 20 mailboxes, as deliveries file them (the triggers choose the folder).
  await db.pool.query(`INSERT INTO messages (id, raw, size, mail_from) SELECT gen_random_uuid(), '\\x53'::bytea, 1, 'a@b.test' FROM generate_series(1, 20000)`);
  await db.pool.query(
    `INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size)
     SELECT ($1::bigint[])[1 + (row_number() OVER () % 20)], m.id, m.id::text, 1 FROM messages m`,
    [mailboxes],
  );
  await db.pool.query('ANALYZE');
});
afterAll(async () => {
  await db.drop();
});

const plan = async (sql: string, params: unknown[]) =>
  (await db.pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)).rows.map((r) => r['QUERY PLAN']).join('\n');

describe('mailbox_messages indexes', () => {
  it('are the five its readers use', async () => {
    const r = await db.pool.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'mailbox_messages' ORDER BY 1`);
    expect(r.rows.map((x) => x.indexname)).toEqual(['mailbox_messages_folder_modseq', 'mailbox_messages_folder_uid', 'mailbox_messages_message_idx', 'mailbox_messages_pkey', 'mailbox_messages_uidl_key']);
  });

  it("routing's quota path finds copies by (mailbox, message) through the message's index", async () => {
    const some = await db.pool.query<{ mailbox_id: number; message_id: string }>('SELECT mailbox_id, message_id FROM mailbox_messages LIMIT 5');
    const p = await plan(
      `SELECT mailbox_id, message_id::text AS message_id FROM mailbox_messages WHERE (mailbox_id, message_id) IN (SELECT * FROM unnest($1::bigint[], $2::uuid[]))`,
      [some.rows.map((x) => x.mailbox_id), some.rows.map((x) => x.message_id)],
    );
    expect(p).not.toMatch(/Seq Scan on mailbox_messages/);
    expect(p).toMatch(/mailbox_messages_message_idx/);
  });

  it("a mailbox's copies (POP3's snapshot) are read by index", async () => {
    const p = await plan(
      `SELECT mm.id, mm.uidl FROM mailbox_messages mm JOIN imap_folders f ON f.id = mm.folder_id AND f.name = 'INBOX' WHERE mm.mailbox_id = $1 ORDER BY mm.id`,
      [mailboxes[3]],
    );
    expect(p).not.toMatch(/Seq Scan on mailbox_messages/);
  });
});

describe('mailbox_messages triggers (migration 0032)', () => {
  it('an UPDATE (a flag change) fires none: the IMAP notification comes from the folder whose MODSEQ it takes', async () => {
    const t = await db.pool.query<{ table: string; tgname: string }>(
      `SELECT c.relname AS table, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relname IN ('mailbox_messages', 'imap_folders') AND (t.tgtype & 16) <> 0 ORDER BY 1, 2`,
    );
    expect(t.rows).toEqual([{ table: 'imap_folders', tgname: 'imap_folders_notify' }]);
  });
});
