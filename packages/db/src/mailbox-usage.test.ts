// mailboxes.used_bytes / message_count follow mailbox_messages (migration 0009): inserts in
// one statement for several mailboxes, POP3-style deletes, cascades, concurrent writers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '@hopmail/mail';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { insertMessage } from './messages.ts';

let db: TestDatabase;
let a: number;
let b: number;
beforeAll(async () => {
  db = await createTestDatabase();
  const d = await db.pool.query<{ id: number }>(`INSERT INTO domains (name) VALUES ('usage.test') RETURNING id`);
  const add = async (local: string) =>
    (await db.pool.query<{ id: number }>(`INSERT INTO mailboxes (domain_id, local_part, address, password_hash) VALUES ($1, $2, $2 || '@usage.test', 'x') RETURNING id`, [d.rows[0]!.id, local])).rows[0]!.id;
  a = await add('a');
  b = await add('b');
});
afterAll(async () => {
  await db.drop();
});

async function message(): Promise<string> {
  const id = newMessageId();
  await insertMessage(db.pool, { id, raw: Buffer.from('Subject: u\r\n\r\nx\r\n'), mailFrom: 's@x.test', recipients: ['a@usage.test'] });
  return id;
}

/** One statement: each message into each listed mailbox, with the given size. */
async function deliver(rows: { mailbox: number; message: string; size: number }[]): Promise<void> {
  await db.pool.query(
    `INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size) SELECT * FROM unnest($1::bigint[], $2::uuid[], $2::text[], $3::int[])`,
    [rows.map((r) => r.mailbox), rows.map((r) => r.message), rows.map((r) => r.size)],
  );
}

const usage = async () =>
  (await db.pool.query<{ id: number; used: number; n: number }>('SELECT id, used_bytes AS used, message_count AS n FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id', [[a, b]])).rows.map((r) => [r.used, r.n]);

describe('mailbox usage counters', () => {
  it('follow inserts, deletes and cascades', async () => {
    const [m1, m2, m3] = [await message(), await message(), await message()];
    await deliver([
      { mailbox: a, message: m1, size: 100 },
      { mailbox: a, message: m2, size: 200 },
      { mailbox: b, message: m1, size: 100 },
    ]);
    expect(await usage()).toEqual([[300, 2], [100, 1]]);
    await deliver([{ mailbox: b, message: m3, size: 50 }]);
    expect(await usage()).toEqual([[300, 2], [150, 2]]);
    // POP3 QUIT after DELE.
    await db.pool.query('DELETE FROM mailbox_messages WHERE mailbox_id = $1 AND message_id = $2', [a, m2]);
    expect(await usage()).toEqual([[100, 1], [150, 2]]);
    // A message deleted outright (retention, admin) cascades to every mailbox holding it.
    await db.pool.query('DELETE FROM messages WHERE id = $1', [m1]);
    expect(await usage()).toEqual([[0, 0], [50, 1]]);
    // A duplicate (ON CONFLICT DO NOTHING) counts nothing.
    await db.pool.query(`INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size) VALUES ($1, $2::uuid, $2::text, 50) ON CONFLICT DO NOTHING`, [b, m3]);
    expect(await usage()).toEqual([[0, 0], [50, 1]]);
  });

  it('stay exact under concurrent statements on the same mailboxes in opposite orders (no deadlock)', async () => {
    const before = await usage();
    const ids = await Promise.all(Array.from({ length: 40 }, () => message()));
    await Promise.all(
      ids.map((m, i) =>
        deliver(
          i % 2
            ? [
                { mailbox: a, message: m, size: 10 },
                { mailbox: b, message: m, size: 10 },
              ]
            : [
                { mailbox: b, message: m, size: 10 },
                { mailbox: a, message: m, size: 10 },
              ],
        ),
      ),
    );
    expect(await usage()).toEqual([
      [before[0]![0]! + 400, before[0]![1]! + 40],
      [before[1]![0]! + 400, before[1]![1]! + 40],
    ]);
  });
});
