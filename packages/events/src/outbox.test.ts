// The outbox publisher against real PostgreSQL and Redis: commit-order safety, public types
// only, at-least-once with stable ids, stream trimming, one publisher at a time.
import { createRedis } from '@hopmail/queue';
import { baseUrls, createTestDatabase, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { publishPending, recordEvent, recordEvents, streamKey, parseEntry, publicTypeOf, type PublicEvent } from './index.ts';

let db: TestDatabase;
let redis: Redis;
let prefix: string;
const M = '01900000-0000-7000-8000-00000000000';

beforeAll(async () => {
  db = await createTestDatabase();
  redis = createRedis(baseUrls().redisUrl);
  prefix = redisPrefix();
});
afterAll(async () => {
  await redis?.quit();
  await db?.drop();
});

const stream = async (): Promise<PublicEvent[]> => ((await redis.xrange(streamKey(prefix), '-', '+')) as [string, string[]][]).map(([, f]) => parseEntry(f)!);

test('public names', () => {
  expect(publicTypeOf('delivered-mailbox')).toBe('message.delivered');
  expect(publicTypeOf('delivered')).toBe('message.delivered');
  expect(publicTypeOf('relay-attempt')).toBeUndefined();
});

test('an event of a transaction still open is never skipped: publishing waits for it', async () => {
  const slow = await db.pool.connect();
  try {
    await slow.query('BEGIN');
    await recordEvent(slow, { type: 'deferred', messageId: M + '1', recipient: 'a@x.example', data: { reply: '451 slow' } }); // lower id, commits last
    await recordEvents(db.pool, [
      { type: 'bounced', messageId: M + '2', recipient: 'b@x.example', data: { status: 'bounced', reply: '550 no' } },
      { type: 'relay-attempt', messageId: M + '2', data: { domain: 'x.example', tls: false, outcome: 'bounced', recipients: ['b@x.example'] } },
    ]);
    // The open transaction holds back everything that started after it.
    expect(await publishPending(db.pool, redis, prefix)).toBe(0);
    await slow.query('COMMIT');
  } finally {
    slow.release();
  }
  expect(await publishPending(db.pool, redis, prefix)).toBe(2);
  const got = await stream();
  expect(got.map((e) => [e.type, e.messageId])).toEqual([['message.deferred', M + '1'], ['message.bounced', M + '2']]);
  expect(got[0]).toMatchObject({ recipient: 'a@x.example', data: { reply: '451 slow', traceType: 'deferred' }, id: expect.stringMatching(/^\d+$/) });
  // Nothing twice.
  expect(await publishPending(db.pool, redis, prefix)).toBe(0);
});

test('only one publisher at a time (advisory lock)', async () => {
  await recordEvent(db.pool, { type: 'received', messageId: M + '3', data: { sender: 's@x.example', size: 1, tls: false } });
  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT pg_advisory_xact_lock($1)', [0x686d6576]);
    expect(await publishPending(db.pool, redis, prefix)).toBeNull();
    await holder.query('ROLLBACK');
  } finally {
    holder.release();
  }
  expect(await publishPending(db.pool, redis, prefix)).toBe(1);
});

test('the stream is capped (XADD MAXLEN ~)', async () => {
  const p2 = redisPrefix();
  const events = Array.from({ length: 3000 }, (_, i) => ({ type: 'received' as const, messageId: M + '4', data: { sender: `s${i}@x.example`, size: 1, tls: false } }));
  await recordEvents(db.pool, events);
  let n: number | null;
  do n = await publishPending(db.pool, redis, p2, { maxLen: 500, batch: 1000 });
  while (n);
  const len = await redis.xlen(streamKey(p2));
  expect(len).toBeLessThan(1500);
  expect(len).toBeGreaterThanOrEqual(500);
  await redis.del(streamKey(p2));
});
