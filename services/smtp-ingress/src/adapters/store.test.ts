// The MessageStore adapter against real PostgreSQL and Redis: commits, then route-message
// jobs added in the background, several messages to a job, with a bounded wait for Redis.
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
  const failed: string[] = [];
  const store = createMessageStore({ pool: db.pool, producer: counting, enqueueTimeoutMs: 5000, onEnqueueFailed: (id) => failed.push(id) });
  const messages = Array.from({ length: 30 }, () => message());
  await Promise.all(messages.map((m) => store.commit(m)));
  await store.drain();
  expect(failed).toEqual([]);
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

it('does not wait for Redis: committed at once; a job not added within SMTP_ENQUEUE_TIMEOUT_MS is reported for the message', async () => {
  const dead = queueRedis(`redis://127.0.0.1:${await freePort()}`);
  dead.on('error', () => {});
  const producer = createProducer('route-message', dead, redisPrefix());
  const failed: { id: string; error: unknown }[] = [];
  const store = createMessageStore({ pool: db.pool, producer, enqueueTimeoutMs: 200, onEnqueueFailed: (id, error) => failed.push({ id, error }) });
  const m = message();
  const started = Date.now();
  await store.commit(m);
  // The 250 may go as soon as the rows are committed: nothing waited for Redis.
  expect(Date.now() - started).toBeLessThan(150);
  expect((await db.pool.query('SELECT 1 FROM messages WHERE id = $1', [m.id])).rowCount).toBe(1);
  expect(failed).toEqual([]);
  await store.drain();
  expect(failed).toEqual([{ id: m.id, error: expect.any(TimeoutError) }]);
  dead.disconnect();
});

it('SMTP_ENQUEUE_WINDOW_MS: messages committed within the window after a job share the next one; after a quiet spell, a job at once', async () => {
  const producer = createProducer('route-message', redis, redisPrefix());
  const { producer: counting, calls } = counted(producer);
  const store = createMessageStore({ pool: db.pool, producer: counting, enqueueTimeoutMs: 5000, enqueueWindowMs: 200, onEnqueueFailed: () => {} });
  const [a, b, c] = [message(), message(), message()];
  await store.commit(a);
  // b and c are committed one after the other, each alone, within the window that a's job opened.
  await store.commit(b);
  await store.commit(c);
  await store.drain();
  const jobs = (await producer.queue.getJobs(['waiting'])).map((j) => j.data as { messageId: string; also?: string[] });
  expect(jobs).toEqual(expect.arrayContaining([{ messageId: a.id }, { messageId: b.id, also: [c.id] }]));
  expect(calls).toEqual(['add', 'add']);
  await producer.close();
});

it('drain() (shutdown) waits for the jobs of committed messages still on their way', async () => {
  const producer = createProducer('route-message', redis, redisPrefix());
  const store = createMessageStore({ pool: db.pool, producer, enqueueTimeoutMs: 5000, enqueueWindowMs: 300, onEnqueueFailed: () => {} });
  const [a, b] = [message(), message()];
  await store.commit(a);
  // b's job waits for the window that a's job opened.
  await store.commit(b);
  expect(await producer.getJob({ messageId: b.id })).toBeUndefined();
  await store.drain();
  expect((await producer.getJob({ messageId: b.id }))?.data).toEqual({ messageId: b.id });
  await producer.close();
});
