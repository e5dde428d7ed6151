// Several housekeepers on one database: the retention pass runs in one replica at a time
// (LOCKS.housekeeping); the other finds the lock taken and skips its pass.
import { LOCKS, withTransaction } from '@hopmail/db';
import { waitFor } from '@hopmail/test-kit';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestHousekeeper, type TestHousekeeper } from '../test/support.ts';

let a: TestHousekeeper;
let b: TestHousekeeper;
beforeAll(async () => {
  // Loops not started: the test runs the passes itself.
  a = await startTestHousekeeper({ start: false });
  b = await startTestHousekeeper({ db: a.db, prefix: a.prefix, start: false });
});
afterAll(async () => {
  await b?.close();
  await a?.close();
});

const retentionLockHeld = async () =>
  (
    await a.db.pool.query(
      `SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = $1
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [LOCKS.housekeeping],
    )
  ).rowCount === 1;

test('while one instance runs the retention pass, the other gets null; afterwards it runs its own', async () => {
  let first: ReturnType<TestHousekeeper['app']['prune']> | undefined;
  // Hold webhook_deliveries so that a's pass stops inside its lock, at its last step.
  await withTransaction(a.db.pool, async (client) => {
    await client.query('LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE');
    first = a.app.prune();
    await waitFor(retentionLockHeld, { what: 'the first pass holding the retention lock' });
    expect(await b.app.prune()).toBeNull();
  });
  expect(await first).toEqual({ messages: 0, events: 0, deliveries: 0, refusals: 0 });
  expect(await retentionLockHeld()).toBe(false);
  expect(await b.app.prune()).toEqual({ messages: 0, events: 0, deliveries: 0, refusals: 0 });
});
