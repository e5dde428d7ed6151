// The trace is one snapshot: a recipient's state and the events written by the same statement
// never disagree, whatever commits between trace()'s two reads. The commit is placed between
// them on purpose: the events read waits on a table lock held by the writer, which commits a
// recipient's new state (its trigger writes the event) before letting go.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { createTestDatabase, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { MessageSearch } from './messages.ts';

let db: TestDatabase;
const id = newMessageId();

beforeAll(async () => {
  db = await createTestDatabase();
  await insertMessage(db.pool, { id, raw: Buffer.from('Subject: t\r\n\r\nx\r\n'), mailFrom: 'a@x.test', recipients: ['b@y.test'] });
});
afterAll(async () => {
  await db?.drop();
});

it('a recipient routed while the trace is read: the trace shows it either queued without the event or routed with it', async () => {
  const search = new MessageSearch(db.pool);
  const writer = await db.pool.connect();
  try {
    await writer.query('BEGIN');
    await writer.query('LOCK TABLE message_events IN ACCESS EXCLUSIVE MODE');
    const reading = search.trace(id, { limit: 100, after: null });
    // trace() has read the message and waits for the events.
    await waitFor(
      async () => {
        const r = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM message_events%'`);
        return r.rowCount ? true : undefined;
      },
      { what: 'trace() waiting for message_events', timeoutMs: 10_000 },
    );
    await writer.query(`UPDATE recipients SET status = 'relay' WHERE message_id = $1`, [id]);
    await writer.query('COMMIT');
    const t = await reading;
    const status = t!.message.recipients[0]!.status;
    const types = t!.items.map((e) => e.type);
    expect({ status, types }).toEqual(status === 'queued' ? { status, types: ['received'] } : { status: 'relay', types: ['received', 'routed'] });
  } finally {
    writer.release();
  }
  // Read again afterwards: routed, with its event.
  const after = await search.trace(id, { limit: 100, after: null });
  expect(after!.message.recipients).toEqual([{ address: 'b@y.test', status: 'relay' }]);
  expect(after!.items.map((e) => e.type)).toEqual(['received', 'routed']);
});

it('an unknown message: null', async () => {
  expect(await new MessageSearch(db.pool).trace(newMessageId(), { limit: 10, after: null })).toBeNull();
});
