// createPool's session settings (INDEX_PLANS, routing's pool): every connection of the pool has
// them before its first query, however many the pool opens.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { createPool, INDEX_PLANS } from './pool.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

it('every connection of a pool made with INDEX_PLANS plans under them; a pool without keeps the defaults', async () => {
  const pool = createPool(db.url, 3, 'hopmail-pool-test', INDEX_PLANS);
  const plain = createPool(db.url, 1, 'hopmail-pool-test');
  try {
    const read = `SELECT current_setting('plan_cache_mode') AS mode, current_setting('enable_seqscan') AS seq, current_setting('enable_hashjoin') AS hash,
                         current_setting('enable_mergejoin') AS merge, pg_backend_pid() AS pid, pg_sleep(0.05)::text`;
    // Three at once: three connections, each asked at once after it opened.
    const rows = (await Promise.all([1, 2, 3].map(() => pool.query(read)))).map((r) => r.rows[0]);
    expect(new Set(rows.map((r) => r.pid)).size).toBe(3);
    for (const r of rows) expect(r).toMatchObject({ mode: 'force_generic_plan', seq: 'off', hash: 'off', merge: 'off' });
    expect((await plain.query(read)).rows[0]).toMatchObject({ mode: 'auto', seq: 'on', hash: 'on', merge: 'on' });
  } finally {
    await pool.end();
    await plain.end();
  }
});
