// RelayStore against real PostgreSQL: what a deliver-remote job finds due.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { RelayStore } from './store.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('RelayStore.loadWork', () => {
  it('a recipient made due earlier in the same millisecond is due: `now` is a JS Date, PostgreSQL keeps microseconds', async () => {
    const id = newMessageId();
    await insertMessage(db.pool, { id, raw: Buffer.from('Subject: x\r\n\r\nx\r\n'), mailFrom: 'a@ours.test', recipients: ['b@remote.test'] });
    // As routing leaves it (next_attempt_at = now()), then a job picked up within the same millisecond.
    const at = new Date(Date.UTC(2026, 11, 7, 5, 0, 0, 123));
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = $2::timestamptz + interval '456 microseconds' WHERE message_id = $1`, [id, at]);
    const store = new RelayStore(db.pool);
    expect((await store.loadWork(id, 'remote.test', at))?.recipients.map((r) => r.address)).toEqual(['b@remote.test']);
    // A millisecond earlier it is not due yet.
    expect(await store.loadWork(id, 'remote.test', new Date(at.getTime() - 1))).toBeNull();
  });
});
