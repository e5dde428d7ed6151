// Redis is not the system of record: with it gone, the API keeps managing PostgreSQL data,
// the auth limit fails open without holding requests, and queue actions still change the rows
// (the relay's scheduler picks them up from PostgreSQL).
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { startPrivateRedis } from '@hopmail/test-kit';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../test/support.ts';

let api: ApiHarness;
let redis: Awaited<ReturnType<typeof startPrivateRedis>>;
beforeAll(async () => {
  redis = await startPrivateRedis();
  api = await buildTestApi({ REDIS_URL: redis.url });
});
afterAll(async () => {
  await api?.app.stop();
  api?.redis.disconnect();
  await api?.db.drop();
  await redis?.stop().catch(() => {});
});

test('with Redis stopped: CRUD works, bad tokens are still 401, retry changes rows, stats say 503', { timeout: 60_000 }, async () => {
  const id = newMessageId();
  await insertMessage(api.db.pool, { id, raw: Buffer.from('Subject: x\r\n\r\nx\r\n'), mailFrom: 'a@x.example', recipients: ['b@down.example'] });
  await api.db.pool.query(`UPDATE recipients SET status = 'deferred', attempts = 1, next_attempt_at = now() + interval '1 hour' WHERE message_id = $1`, [id]);
  await redis.stop();
  const t0 = Date.now();
  expect((await api.call('POST', '/v1/domains', { name: 'down.example' })).status).toBe(201);
  expect((await api.call('GET', '/v1/domains', undefined, { authorization: 'Bearer nope' })).status).toBe(401);
  // Fail-fast, not waiting for Redis (a queued command would wait for ever): seconds at most even
  // on a loaded CI machine.
  expect(Date.now() - t0).toBeLessThan(10_000);
  const r = await api.call('POST', '/v1/queue/retry', { filter: { messageId: id } });
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ changed: 1, jobs: 0 });
  const row = await api.db.pool.query<{ due: boolean }>(`SELECT next_attempt_at <= now() AS due FROM recipients WHERE message_id = $1`, [id]);
  expect(row.rows[0]!.due).toBe(true);
  const stats = await api.call('GET', '/v1/queue/stats');
  expect(stats.status).toBe(503);
  expect(stats.json.error.code).toBe('unavailable');
  expect(api.logText()).toMatch(/"event":"admin-api.auth-limit-unavailable"/);
  expect(api.logText()).toMatch(/"event":"admin-api.queue-wake-failed"/);
});
