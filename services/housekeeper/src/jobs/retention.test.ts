// Trace events, webhook deliveries and refused attempts in the retention pass, against real PostgreSQL.
import { randomUUID } from 'node:crypto';
import { recordEvents } from '@hopmail/events';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { waitFor } from '@hopmail/test-kit';
import { startTestHousekeeper, type TestHousekeeper } from '../../test/support.ts';

let hk: TestHousekeeper;
beforeAll(async () => {
  hk = await startTestHousekeeper({ env: { EVENTS_RETENTION_DAYS: '30', WEBHOOK_DELIVERY_RETENTION_DAYS: '7' } });
});
afterAll(async () => {
  await hk?.close();
});

test('trace events, finished webhook deliveries and refused attempts past retention are deleted; the rest stay', async () => {
  const M = '01900000-0000-7000-8000-0000000000aa';
  const day = 86_400_000;
  await recordEvents(hk.db.pool, [
    { type: 'received', messageId: M, data: { sender: 'old@x.example', size: 1, tls: false }, at: new Date(Date.now() - 31 * day) },
    { type: 'routed', messageId: M, data: { status: 'relay' }, at: new Date(Date.now() - 29 * day) },
  ]);
  // 'received' is published on the event stream: it may go once the publisher is past it.
  await waitFor(async () => {
    const r = await hk.db.pool.query<{ done: boolean }>(
      `SELECT (c.txid, c.event_id) >= (e.txid, e.id) AS done FROM event_stream_cursor c, message_events e WHERE e.message_id = $1 AND e.type = 'received'`,
      [M],
    );
    return r.rows[0]?.done === true;
  });
  // A webhook as admin-api registers it.
  const w = { id: randomUUID() };
  await hk.db.pool.query(`INSERT INTO webhooks (id, url, secret, event_types, description) VALUES ($1, 'http://127.0.0.1:9/x', $2, '{message.received}', '')`, [w.id, 'x'.repeat(16)]);
  await hk.db.pool.query(
    `INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, payload, status, created_at) VALUES
       ($1, 1, 'message.received', '{}', 'delivered', now() - interval '8 days'),
       ($1, 2, 'message.received', '{}', 'pending', now() - interval '8 days'),
       ($1, 3, 'message.received', '{}', 'failed', now() - interval '1 day')`,
    [w.id],
  );
  // Refused attempts: one past REFUSAL_RETENTION_DAYS (default 30), one inside it.
  await hk.db.pool.query(
    `INSERT INTO smtp_refusals (at, session_id, client_ip, sender, recipient, stage, reason, reply) VALUES
       (now() - interval '31 days', 's-old', '192.0.2.9', 'x@remote.test', 'old@example.org', 'rcpt', 'greylisted', '451 4.7.1 Greylisted, please try again later'),
       (now() - interval '29 days', 's-new', '192.0.2.9', 'x@remote.test', 'new@example.org', 'rcpt', 'greylisted', '451 4.7.1 Greylisted, please try again later')`,
  );
  expect(await hk.app.prune()).toEqual({ messages: 0, events: 1, deliveries: 1, refusals: 1 });
  const left = await hk.db.pool.query<{ type: string }>('SELECT type FROM message_events WHERE message_id = $1', [M]);
  expect(left.rows.map((r) => r.type)).toEqual(['routed']);
  const d = await hk.db.pool.query<{ event_id: number }>('SELECT event_id FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY event_id', [w.id]);
  expect(d.rows.map((r) => Number(r.event_id))).toEqual([2, 3]);
  const refusals = await hk.db.pool.query<{ recipient: string }>('SELECT recipient FROM smtp_refusals');
  expect(refusals.rows.map((r) => r.recipient)).toEqual(['new@example.org']);
  expect(await hk.app.prune()).toEqual({ messages: 0, events: 0, deliveries: 0, refusals: 0 });
});

test('an old event of a published type stays until the stream publisher is past it', async () => {
  const quiet = await startTestHousekeeper({ env: { EVENTS_RETENTION_DAYS: '30', EVENTS_PUBLISH: 'false' } });
  try {
    const M = '01900000-0000-7000-8000-0000000000bb';
    const old = new Date(Date.now() - 40 * 86_400_000);
    await recordEvents(quiet.db.pool, [
      { type: 'received', messageId: M, data: { sender: 'old@x.example', size: 1, tls: false }, at: old },
      { type: 'routed', messageId: M, data: { status: 'relay' }, at: old },
    ]);
    expect(await quiet.app.prune()).toMatchObject({ events: 1 });
    const left = await quiet.db.pool.query<{ type: string }>('SELECT type FROM message_events WHERE message_id = $1', [M]);
    expect(left.rows.map((r) => r.type)).toEqual(['received']);
  } finally {
    await quiet.close();
  }
});
