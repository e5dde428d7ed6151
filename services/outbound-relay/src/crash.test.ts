// kill -9 of the relay between the remote's 250 and recording it: the job comes back (BullMQ
// stalled-job check, or the scheduler from PostgreSQL), the message is delivered again rather
// than lost, and the possible duplicate is logged and recorded.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { createTestDatabase, redisPrefix, startFakeDns, startFakeMx, startServiceProcess, waitFor, type FakeDns, type FakeMx, type ServiceProcess, type TestDatabase } from '@hopmail/test-kit';
import { relayEnv } from '../test/relay-app.ts';

const MX = '127.0.0.31';
let db: TestDatabase;
let dns: FakeDns;
let mx: FakeMx;
const procs: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  mx = await startFakeMx([MX]);
  dns = await startFakeDns({
    host: '127.0.0.54',
    records: [
      { name: 'crash.test', type: 'MX', data: { preference: 10, exchange: 'mx.crash.test' } },
      { name: 'mx.crash.test', type: 'A', data: MX },
    ],
  });
});

afterAll(async () => {
  for (const p of procs) await p.kill('SIGKILL');
  await mx?.stop();
  await dns?.stop();
  await db?.drop();
});

it('kill -9 after the remote said 250 but before the result was recorded: delivered again, duplicate logged', async () => {
  const env = relayEnv({
    db,
    prefix: redisPrefix(),
    mx,
    dns,
    env: {
      HEALTH_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      DNS_TIMEOUT_MS: '500',
      RELAY_ALLOW_LOOPBACK_MX: 'true',
      RELAY_WORKER_LOCK_MS: '1000',
      RELAY_SCHEDULER_INTERVAL_MS: '100',
    },
  });
  const first = startServiceProcess('outbound-relay', { ...env, RELAY_TEST_HOLD_AFTER_DATA_MS: '30000' });
  procs.push(first);
  await first.ready;

  const id = newMessageId();
  await insertMessage(db.pool, { id, raw: Buffer.from(`Subject: ${id}\r\n\r\nhi\r\n`), mailFrom: 'alice@local.test', recipients: ['bob@crash.test'] });
  await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);

  await waitFor(async () => mx.transactions.length === 1, { what: 'the first transaction' });
  // The 250 has gone out; the relay is holding before it records it.
  await waitFor(async () => (await db.pool.query(`SELECT 1 FROM relay_attempts WHERE message_id = $1 AND outcome = 'in-progress'`, [id])).rowCount === 1);
  await new Promise((r) => setTimeout(r, 200));
  expect((await db.pool.query(`SELECT status FROM recipients WHERE message_id = $1`, [id])).rows[0].status).toBe('relay');
  await first.kill('SIGKILL');

  const second = startServiceProcess('outbound-relay', env);
  procs.push(second);
  await second.ready;
  await waitFor(async () => (await db.pool.query(`SELECT status FROM recipients WHERE message_id = $1`, [id])).rows[0].status === 'delivered', { timeoutMs: 20_000, what: 'redelivery' });

  expect(mx.transactions).toHaveLength(2); // at-least-once: the duplicate SMTP cannot prevent
  expect(second.logs.some((l) => l.event === 'outbound-relay.possible-duplicate' && l.msgId === id)).toBe(true);
  const a = await db.pool.query(`SELECT outcome FROM relay_attempts WHERE message_id = $1 ORDER BY id`, [id]);
  expect(a.rows.map((r) => r.outcome)).toEqual(['possible-duplicate', 'delivered']);
  await second.kill('SIGTERM');
  expect(await second.exited).toBe(0);
}, 40_000);
