// loadQueued's plan must not depend on fresh statistics: after the tables grew (a burst
// after start, before autovacuum analysed them) it still reads each message's recipients by
// index — no scan of every recipient, no walk over the whole queued backlog.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { withTransaction } from '@hopmail/db';
import { newMessage } from '../../test/fixtures.ts';
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
