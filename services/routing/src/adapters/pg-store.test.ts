// loadQueued's plan must not depend on fresh statistics: after the tables grew (a burst
// after start, before autovacuum analysed them) it still reads each message's recipients by
// index — no scan of every recipient, no walk over the whole queued backlog.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { insertMessage, withTransaction } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import type { MessageWrite } from '../store.ts';
import { addDomain, addMailbox, newMessage } from '../../test/fixtures.ts';
import { PgRoutingStore } from './pg-store.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('PgRoutingStore.loadQueued', () => {
  it('reads the queued recipients of each message by index however the tables grew', async () => {
    const client = await db.pool.connect();
    try {
      const store = new PgRoutingStore(client);
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push(await newMessage(db.pool, [`a${i}@x.test`, `b${i}@x.test`]));
      await db.pool.query(`UPDATE recipients SET status = 'delivered' WHERE message_id = $1 AND address LIKE 'b%'`, [ids[0]]);
      for (let i = 0; i < 6; i++) await store.loadQueued(ids);
      // 20,000 more messages, all queued; nothing analyses the tables.
      await db.pool.query(`
        WITH m AS (INSERT INTO messages (id, raw, size, mail_from) SELECT gen_random_uuid(), '\\x00', 1, 'a@b.test' FROM generate_series(1, 20000) RETURNING id)
        INSERT INTO recipients (message_id, address, domain) SELECT id, 'r@far.test', 'far.test' FROM m`);
      const counters = async () =>
        (
          await client.query<{ seq: number; idx: number }>(
            `SELECT (SELECT sum(seq_scan)::int FROM pg_stat_xact_user_tables WHERE relname IN ('recipients', 'messages')) AS seq,
                    pg_stat_get_xact_tuples_returned('recipients_unfinished_idx'::regclass)::int AS idx`,
          )
        ).rows[0]!;
      // The xact counters include statistics not yet flushed, and PostgreSQL 15+ flushes them
      // between transactions at most once a second: one transaction keeps before and after
      // comparable (the plan is the same inside it).
      const { before, loaded, after } = await withTransaction(client, async () => {
        const before = await counters();
        const loaded = await store.loadQueued([...ids, '00000000-0000-7000-8000-000000000000']);
        return { before, loaded, after: await counters() };
      });
      expect(after.seq - before.seq).toBe(0);
      expect(after.idx - before.idx).toBeLessThan(100);
      expect(loaded[0]!.recipients.map((r) => r.address)).toEqual(['a0@x.test']);
      expect(loaded[1]!.recipients.map((r) => r.address)).toEqual(['a1@x.test', 'b1@x.test']);
      expect(loaded[10]).toBeNull();
    } finally {
      client.release();
    }
  });
});

describe('PgRoutingStore.write: delivered copies are numbered as they are inserted (migration 0027)', () => {
  /** Each message's recipients delivered into the mailboxes of the same addresses. */
  async function deliver(store: PgRoutingStore, ids: string[]): Promise<void> {
    const loaded = await store.loadQueued(ids);
    const items: MessageWrite[] = loaded.map((m, i) => ({
      messageId: ids[i]!,
      size: m!.size,
      decision: {
        mailboxRows: m!.recipients.map((r) => ({ mailboxId: mailboxes.get(r.address)!, recipientId: r.id })),
        children: [],
        updates: m!.recipients.map((r) => ({ id: r.id, status: 'delivered' as const, reply: '250 2.0.0 delivered', reason: null })),
      },
    }));
    expect((await store.write(items)).every((w) => w !== null)).toBe(true);
  }
  const mailboxes = new Map<string, number>();

  beforeAll(async () => {
    await addDomain(db.pool, 'num.test');
    for (const a of ['one@num.test', 'two@num.test']) mailboxes.set(a, await addMailbox(db.pool, a));
  });

  it('each copy is written once, with its UID and MODSEQ, in \\Junk when ingress said junk, and UIDs stay unique under concurrent batches', async () => {
    const client = await db.pool.connect();
    try {
      const store = new PgRoutingStore(client);
      const plain = await newMessage(db.pool, ['one@num.test', 'two@num.test']);
      const junk = newMessageId();
      await insertMessage(db.pool, { id: junk, raw: Buffer.from('Subject: j\r\n\r\nx\r\n'), mailFrom: 's@sender.test', recipients: ['one@num.test'], junk: true });
      // In one transaction: the xact counters include what is not yet flushed.
      const updated = await withTransaction(client, async () => {
        await deliver(store, [plain, junk]);
        const r = await client.query<{ ins: number; upd: number }>(`SELECT n_tup_ins::int AS ins, n_tup_upd::int AS upd FROM pg_stat_xact_user_tables WHERE relname = 'mailbox_messages'`);
        return r.rows[0]!;
      });
      // Before 0027 each copy was inserted, then updated by the numbering trigger.
      expect(updated).toEqual({ ins: 3, upd: 0 });
      const rows = await db.pool.query<{ address: string; folder: string; uid: number; modseq: number; highest: number; uid_next: number; junk: boolean }>(
        `SELECT mb.address, f.name AS folder, mm.uid::int, mm.modseq::int, f.highest_modseq::int AS highest, f.uid_next::int, mm.message_id = $1 AS junk
           FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id JOIN imap_folders f ON f.id = mm.folder_id
          ORDER BY mb.address, mm.message_id`,
        [junk],
      );
      expect(rows.rows).toEqual([
        { address: 'one@num.test', folder: 'INBOX', uid: 1, modseq: 2, highest: 2, uid_next: 2, junk: false },
        { address: 'one@num.test', folder: 'Junk', uid: 1, modseq: 2, highest: 2, uid_next: 2, junk: true },
        { address: 'two@num.test', folder: 'INBOX', uid: 1, modseq: 2, highest: 2, uid_next: 2, junk: false },
      ]);

      // Ten batches at once into the same two folders, each on its own connection.
      const batches = await Promise.all(Array.from({ length: 10 }, async () => Promise.all(Array.from({ length: 5 }, () => newMessage(db.pool, ['two@num.test', 'one@num.test'])))));
      await Promise.all(
        batches.map(async (ids) => {
          const c = await db.pool.connect();
          try {
            await deliver(new PgRoutingStore(c), ids);
          } finally {
            c.release();
          }
        }),
      );
      const inbox = await db.pool.query<{ address: string; uids: number[]; uid_next: number; highest: number; max_modseq: number }>(
        `SELECT mb.address, array_agg(mm.uid::int ORDER BY mm.uid) AS uids, f.uid_next::int, f.highest_modseq::int AS highest, max(mm.modseq)::int AS max_modseq
           FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id JOIN imap_folders f ON f.id = mm.folder_id
          WHERE f.name = 'INBOX' GROUP BY mb.address, f.uid_next, f.highest_modseq ORDER BY mb.address`,
      );
      const all = Array.from({ length: 51 }, (_, i) => i + 1);
      for (const f of inbox.rows) {
        expect(f.uids).toEqual(all);
        expect(f.uid_next).toBe(52);
        expect(f.max_modseq).toBe(f.highest);
      }
    } finally {
      client.release();
    }
  });

  it('a mailbox without folders gets them, and its copy is numbered by the trigger as before', async () => {
    const id = await addMailbox(db.pool, 'bare@num.test');
    mailboxes.set('bare@num.test', id);
    await db.pool.query('DELETE FROM imap_folders WHERE mailbox_id = $1', [id]);
    const msg = await newMessage(db.pool, ['bare@num.test']);
    const client = await db.pool.connect();
    try {
      await deliver(new PgRoutingStore(client), [msg]);
    } finally {
      client.release();
    }
    const r = await db.pool.query(`SELECT f.name, mm.uid::int, f.uid_next::int FROM mailbox_messages mm JOIN imap_folders f ON f.id = mm.folder_id WHERE mm.mailbox_id = $1`, [id]);
    expect(r.rows).toEqual([{ name: 'INBOX', uid: 1, uid_next: 2 }]);
  });
});
