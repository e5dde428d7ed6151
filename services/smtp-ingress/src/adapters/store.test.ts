// The MessageStore adapter against real PostgreSQL and Redis: commits, then route-message
// jobs added in bulk, with a bounded wait for Redis.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newMessageId } from '@hopmail/mail';
import { createProducer, type Producer } from '@hopmail/queue';
import { queueRedis, TimeoutError } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, freePort, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { createMessageStore, createRouteEnqueuer } from './store.ts';

let db: TestDatabase;
let redis: Redis;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = queueRedis(baseUrls().redisUrl);
});

afterAll(async () => {
  redis.disconnect();
  await db.drop();
});

/** A real producer whose Redis calls are counted. */
function counted(producer: Producer<'route-message'>) {
  const calls: string[] = [];
  const wrapped: Producer<'route-message'> = {
    ...producer,
    add: (payload, opts) => (calls.push('add'), producer.add(payload, opts)),
    addBulk: (payloads) => (calls.push(`addBulk(${payloads.length})`), producer.addBulk(payloads)),
  };
  return { producer: wrapped, calls };
}

const message = (id = newMessageId()) => ({ id, raw: Buffer.from('Subject: x\r\n\r\nhi\r\n'), mailFrom: 'a@remote.test', recipients: ['alice@example.org'] });

it('messages committed together are enqueued as one job (messageId and also)', async () => {
  const producer = createProducer('route-message', redis, redisPrefix());
  const { producer: counting, calls } = counted(producer);
  const store = createMessageStore({ pool: db.pool, producer: counting, enqueueTimeoutMs: 5000 });
  const messages = Array.from({ length: 30 }, () => message());
  const results = await Promise.all(messages.map((m) => store.commit(m)));
  expect(results.every((r) => r.enqueued)).toBe(true);
  // One group commit, so one job (a second only if the commits came back in two turns).
  expect(calls.length).toBeLessThanOrEqual(2);
  expect(calls.every((c) => c === 'add')).toBe(true);
  const jobs = (await producer.queue.getJobs(['waiting'])).map((j) => j.data as { messageId: string; also?: string[] });
  expect(jobs).toHaveLength(calls.length);
  // Every message in exactly one job, under the job id of its first message.
  expect(jobs.flatMap((d) => [d.messageId, ...(d.also ?? [])]).sort()).toEqual(messages.map((m) => m.id).sort());
  for (const d of jobs) expect((await producer.getJob({ messageId: d.messageId }))?.data).toEqual(d);
  await producer.close();
});

it('a message alone costs one add, and adding it again is harmless', async () => {
  const producer = createProducer('route-message', redis, redisPrefix());
  const { producer: counting, calls } = counted(producer);
  const enqueue = createRouteEnqueuer(counting);
  const id = newMessageId();
  await enqueue({ messageId: id });
  await Promise.all([enqueue({ messageId: id }), enqueue({ messageId: id })]);
  // The same message twice in one batch is one job of one message.
  expect(calls).toEqual(['add', 'add']);
  expect((await producer.stats()).waiting).toBe(1);
  await producer.close();
});

it('answers within SMTP_ENQUEUE_TIMEOUT_MS when Redis does not: committed, not enqueued', async () => {
  const dead = queueRedis(`redis://127.0.0.1:${await freePort()}`);
  dead.on('error', () => {});
  const producer = createProducer('route-message', dead, redisPrefix());
  const store = createMessageStore({ pool: db.pool, producer, enqueueTimeoutMs: 200 });
  const m = message();
  const started = Date.now();
  const result = await store.commit(m);
  expect(Date.now() - started).toBeLessThan(2000);
  expect(result).toMatchObject({ enqueued: false, error: expect.any(TimeoutError) });
  expect((await db.pool.query('SELECT 1 FROM messages WHERE id = $1', [m.id])).rowCount).toBe(1);
  dead.disconnect();
});
