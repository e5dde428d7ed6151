// loadQueued's plan must not depend on fresh statistics: after the tables grew (a burst
// after start, before autovacuum analysed them) it still reads each message's recipients by
// index — no scan of every recipient, no walk over the whole queued backlog. On connections
// as routing's (INDEX_PLANS): its plans are made once, while the tables are small.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { createPool, INDEX_PLANS, insertMessage, withTransaction, type Pool } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import type { MessageWrite, QueuedMessage } from '../store.ts';
import { addDomain, addMailbox, newMessage } from '../../test/fixtures.ts';
import { PgRoutingStore } from './pg-store.ts';

let db: TestDatabase;
/** Connections as routing's own (runService with `postgres: 'index-plans'`). */
let routingPool: Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  routingPool = createPool(db.url, 12, 'hopmail-routing-test', INDEX_PLANS);
});
afterAll(async () => {
  await routingPool?.end();
  await db.drop();
});

/** A message's queued recipients delivered, each into the mailbox `mailboxOf` names for its address. */
function delivery(messageId: string, m: QueuedMessage, mailboxOf: (address: string) => number): MessageWrite {
  return {
    messageId,
    size: m.size,
    decision: {
      mailboxRows: m.recipients.map((r) => ({ mailboxId: mailboxOf(r.address), recipientId: r.id })),
      children: [],
      updates: m.recipients.map((r) => ({ id: r.id, status: 'delivered' as const, reply: '250 2.0.0 delivered', reason: null })),
    },
  };
}

describe('PgRoutingStore.loadQueued and write', () => {
  it('read the queued recipients of each message, and deliver, by index however the tables grew', async () => {
    const client = await routingPool.connect();
    try {
      expect((await client.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode')).rows[0]!.plan_cache_mode).toBe('force_generic_plan');
      const store = new PgRoutingStore(client);
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push(await newMessage(db.pool, [`a${i}@x.test`, `b${i}@x.test`]));
      await db.pool.query(`UPDATE recipients SET status = 'delivered' WHERE message_id = $1 AND address LIKE 'b%'`, [ids[0]]);
      await addDomain(db.pool, 'grow.test');
      const mailbox = await addMailbox(db.pool, 'g@grow.test');
      const deliverOne = async () => {
        const id = await newMessage(db.pool, ['g@grow.test']);
        const [m] = await store.loadQueued([id]);
        expect(await store.write([delivery(id, m!, () => mailbox)])).toEqual([expect.objectContaining({ relayDomains: [] })]);
      };
      // Plans made on this connection while the tables are nearly empty.
      for (let i = 0; i < 6; i++) {
        await store.loadQueued(ids);
        await deliverOne();
      }
      // 20,000 more messages, all queued; nothing analyses the tables.
      await db.pool.query(`
        WITH m AS (INSERT INTO messages (id, raw, size, mail_from) SELECT gen_random_uuid(), '\\x00', 1, 'a@b.test' FROM generate_series(1, 20000) RETURNING id)
        INSERT INTO recipients (message_id, address, domain) SELECT id, 'r@far.test', 'far.test' FROM m`);
      // And 2,000 more mailboxes, with their IMAP folders (10,000).
      await db.pool.query(
        `INSERT INTO mailboxes (domain_id, local_part, address, password_hash) SELECT d.id, 'm' || g, 'm' || g || '@grow.test', 'x' FROM domains d, generate_series(1, 2000) g WHERE d.name = 'grow.test'`,
      );
      const counters = async () =>
        (
          await client.query<{ seq: number; rows: number; idx: number }>(
            `SELECT (SELECT sum(seq_scan)::int FROM pg_stat_xact_user_tables WHERE relname IN ('recipients', 'messages', 'mailbox_messages', 'mailboxes', 'imap_folders')) AS seq,
                    (SELECT sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0))::int FROM pg_stat_xact_user_tables WHERE relname IN ('recipients', 'messages', 'mailbox_messages', 'mailboxes', 'imap_folders')) AS rows,
                    pg_stat_get_xact_tuples_returned('recipients_unfinished_idx'::regclass)::int AS idx`,
          )
        ).rows[0]!;
      // The xact counters include statistics not yet flushed, and PostgreSQL 15+ flushes them
      // between transactions at most once a second: one transaction keeps before and after
      // comparable (the plan is the same inside it).
      const { before, loaded, after } = await withTransaction(client, async () => {
        const before = await counters();
        const loaded = await store.loadQueued([...ids, '00000000-0000-7000-8000-000000000000']);
        await deliverOne();
        return { before, loaded, after: await counters() };
      });
      expect(after.seq - before.seq).toBe(0);
      expect(after.idx - before.idx).toBeLessThan(100);
      // Rows read however they were found: a walk over a whole index counts too.
      expect(after.rows - before.rows).toBeLessThan(200);
      expect(loaded[0]!.recipients.map((r) => r.address)).toEqual(['a0@x.test']);
      expect(loaded[1]!.recipients.map((r) => r.address)).toEqual(['a1@x.test', 'b1@x.test']);
      expect(loaded[10]).toBeNull();
      expect((await db.pool.query('SELECT uid::int FROM mailbox_messages WHERE mailbox_id = $1 ORDER BY uid', [mailbox])).rows.map((r) => r.uid)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    } finally {
      client.release();
    }
  });
});

describe('PgRoutingStore.write: delivered copies are numbered as they are inserted (migration 0027)', () => {
  /** Each message's recipients delivered into the mailboxes of the same addresses. */
  async function deliver(store: PgRoutingStore, ids: string[]): Promise<void> {
    const loaded = await store.loadQueued(ids);
    const items = loaded.map((m, i) => delivery(ids[i]!, m!, (address) => mailboxes.get(address)!));
    expect((await store.write(items)).every((w) => w !== null)).toBe(true);
  }
  const mailboxes = new Map<string, number>();

  beforeAll(async () => {
    await addDomain(db.pool, 'num.test');
    for (const a of ['one@num.test', 'two@num.test']) mailboxes.set(a, await addMailbox(db.pool, a));
  });

  it('each copy is written once, with its UID and MODSEQ, in \\Junk when ingress said junk, and UIDs stay unique under concurrent batches', async () => {
    const client = await routingPool.connect();
    try {
      const store = new PgRoutingStore(client);
      const plain = await newMessage(db.pool, ['one@num.test', 'two@num.test']);
      const junk = newMessageId();
      await insertMessage(db.pool, { id: junk, raw: Buffer.from('Subject: j\r\n\r\nx\r\n'), mailFrom: 's@sender.test', recipients: ['one@num.test'], junk: true });
      // Before and after, in one transaction: the xact counters include what is not yet flushed.
      const counters = async () =>
        (await client.query<{ ins: number; upd: number }>(`SELECT n_tup_ins::int AS ins, n_tup_upd::int AS upd FROM pg_stat_xact_user_tables WHERE relname = 'mailbox_messages'`)).rows[0]!;
      const updated = await withTransaction(client, async () => {
        const before = await counters();
        await deliver(store, [plain, junk]);
        const after = await counters();
        return { ins: after.ins - before.ins, upd: after.upd - before.upd };
      });
      // Before 0027 each copy was inserted, then updated by the numbering trigger.
      expect(updated).toEqual({ ins: 3, upd: 0 });
      // Both messages queued for the SEARCH indexer, once each (0029: per statement).
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM message_search_pending WHERE message_id = ANY($1::uuid[])`, [[plain, junk]])).rows[0]!.n).toBe(2);
      const rows = await db.pool.query<{ address: string; folder: string; uid: number; modseq: number; highest: number; uid_next: number; junk: boolean }>(
        `SELECT mb.address, f.name AS folder, mm.uid::int, mm.modseq::int, f.highest_modseq::int AS highest, f.uid_next::int, mm.message_id = $1 AS junk
           FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id JOIN imap_folders f ON f.id = mm.folder_id
          WHERE mb.address LIKE '%@num.test' ORDER BY mb.address, mm.message_id`,
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
          const c = await routingPool.connect();
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
          WHERE f.name = 'INBOX' AND mb.address LIKE '%@num.test' GROUP BY mb.address, f.uid_next, f.highest_modseq ORDER BY mb.address`,
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
    const client = await routingPool.connect();
    try {
      await deliver(new PgRoutingStore(client), [msg]);
    } finally {
      client.release();
    }
    const r = await db.pool.query(`SELECT f.name, mm.uid::int, f.uid_next::int FROM mailbox_messages mm JOIN imap_folders f ON f.id = mm.folder_id WHERE mm.mailbox_id = $1`, [id]);
    expect(r.rows).toEqual([{ name: 'INBOX', uid: 1, uid_next: 2 }]);
  });
});

describe('PgRoutingStore.lockFacts and write for a mailbox with a quota', () => {
  it('take the folder before the mailbox row, as IMAP APPEND/COPY/MOVE do: an IMAP transaction between them is waited for, not deadlocked with', async () => {
    await addDomain(db.pool, 'quota.test');
    const mailbox = await addMailbox(db.pool, 'q@quota.test', 10_000_000);
    const inbox = (await db.pool.query<{ id: number }>(`SELECT id FROM imap_folders WHERE mailbox_id = $1 AND name = 'INBOX'`, [mailbox])).rows[0]!.id;
    const msg = await newMessage(db.pool, ['q@quota.test']);
    // An IMAP COPY into that INBOX, half way: the folder locked (numbering), the mailbox not yet (usage).
    const imap = await db.pool.connect();
    const client = await routingPool.connect();
    try {
      await imap.query('BEGIN');
      await imap.query('SELECT 1 FROM imap_folders WHERE id = $1 FOR NO KEY UPDATE', [inbox]);
      const routingPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const store = new PgRoutingStore(client);
      const [m] = await store.loadQueued([msg]);
      const delivered = store.transaction(async (tx) => {
        const facts = await tx.lockFacts([{ messageId: msg, recipientIds: m!.recipients.map((r) => r.id), mailboxIds: [mailbox] }]);
        expect(facts.mailboxes.get(mailbox)).toMatchObject({ quotaBytes: 10_000_000 });
        return tx.write([delivery(msg, m!, () => mailbox)]);
      });
      delivered.catch(() => {}); // awaited below; a deadlock error must fail the test there, not as unhandled
      // Routing waits for the folder …
      await waitFor(
        async () => ((await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, [routingPid])).rowCount ? true : undefined),
        { what: 'routing waiting for the folder', timeoutMs: 10_000 },
      );
      // … without holding the mailbox row: IMAP takes it at once and commits (before, routing
      // held it, and PostgreSQL broke the deadlock by aborting one of the two).
      await imap.query(`SET LOCAL lock_timeout = '5s'`);
      await imap.query('SELECT 1 FROM mailboxes WHERE id = $1 FOR NO KEY UPDATE', [mailbox]);
      await imap.query('COMMIT');
      expect(await delivered).toEqual([expect.objectContaining({ relayDomains: [] })]);
    } finally {
      await imap.query('ROLLBACK').catch(() => {});
      imap.release();
      client.release();
    }
    const r = await db.pool.query(`SELECT mm.uid::int, mb.message_count FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id WHERE mm.mailbox_id = $1`, [mailbox]);
    expect(r.rows).toEqual([{ uid: 1, message_count: 1 }]);
  });
});
