// The outbox publisher against real PostgreSQL and Redis: commit-order safety, public types
// only, at-least-once with stable ids, stream trimming, one publisher at a time.
import { LOCKS, rollback, withTransaction } from '@hopmail/db';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, waitFor, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { publishPending, recordEvent, recordEvents, streamKey, parseEntry, publicTypeOf, type PublicEvent } from './index.ts';

let db: TestDatabase;
let redis: Redis;
let prefix: string;
const M = '01900000-0000-7000-8000-00000000000';

beforeAll(async () => {
  db = await createTestDatabase();
  redis = queueRedis(baseUrls().redisUrl);
  prefix = redisPrefix();
});
afterAll(async () => {
  await redis?.quit();
  await db?.drop();
});

// pg_snapshot_xmin is cluster-wide: any transaction open in another database (other test files
// run in parallel) also holds publishing back for a moment. Drain until the stream has `n`.
async function drainUntil(p: string, n: number): Promise<void> {
  await waitFor(async () => {
    await publishPending(db.pool, redis, p, { maxLen: 100_000 });
    return (await redis.xlen(streamKey(p))) >= n;
  }, { what: `${n} events on the stream` });
}

const stream = async (): Promise<PublicEvent[]> => ((await redis.xrange(streamKey(prefix), '-', '+')) as [string, string[]][]).map(([, f]) => parseEntry(f)!);

test('public names', () => {
  expect(publicTypeOf('delivered-mailbox')).toBe('message.delivered');
  expect(publicTypeOf('delivered')).toBe('message.delivered');
  expect(publicTypeOf('relay-attempt')).toBeUndefined();
});

test('an event of a transaction still open is never skipped: publishing waits for it', async () => {
  await withTransaction(db.pool, async (slow) => {
    await recordEvent(slow, { type: 'deferred', messageId: M + '1', recipient: 'a@x.example', data: { reply: '451 slow' } }); // lower id, commits last
    await recordEvents(db.pool, [
      { type: 'bounced', messageId: M + '2', recipient: 'b@x.example', data: { status: 'bounced', reply: '550 no' } },
      { type: 'relay-attempt', messageId: M + '2', data: { domain: 'x.example', tls: false, outcome: 'bounced', recipients: ['b@x.example'] } },
    ]);
    // The open transaction holds back everything that started after it.
    expect(await publishPending(db.pool, redis, prefix)).toBe(0);
  });
  await drainUntil(prefix, 2);
  const got = await stream();
  expect(got.map((e) => [e.type, e.messageId])).toEqual([['message.deferred', M + '1'], ['message.bounced', M + '2']]);
  expect(got[0]).toMatchObject({ recipient: 'a@x.example', data: { reply: '451 slow', traceType: 'deferred' }, id: expect.stringMatching(/^\d+$/) });
  // Nothing twice.
  expect(await publishPending(db.pool, redis, prefix)).toBe(0);
});

test('only one publisher at a time (advisory lock)', async () => {
  await recordEvent(db.pool, { type: 'received', messageId: M + '3', data: { sender: 's@x.example', size: 1, tls: false } });
  await withTransaction(db.pool, async (holder) => {
    await holder.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.outbox]);
    expect(await publishPending(db.pool, redis, prefix)).toBeNull();
    return rollback(undefined);
  });
  await drainUntil(prefix, 3);
  expect((await stream()).map((e) => e.messageId)).toEqual([M + '1', M + '2', M + '3']);
});

test('the stream is capped (XADD MAXLEN ~)', async () => {
  const p2 = redisPrefix();
  const events = Array.from({ length: 3000 }, (_, i) => ({ type: 'received' as const, messageId: M + '4', data: { sender: `s${i}@x.example`, size: 1, tls: false } }));
  await recordEvents(db.pool, events);
  await waitFor(async () => {
    let n: number | null;
    do n = await publishPending(db.pool, redis, p2, { maxLen: 500, batch: 1000 });
    while (n);
    const cur = await db.pool.query<{ n: number }>(`SELECT count(*)::int n FROM message_events e, event_stream_cursor c WHERE e.id > c.event_id AND e.message_id = $1`, [M + '4']);
    return cur.rows[0]!.n === 0;
  }, { what: 'all published' });
  const len = await redis.xlen(streamKey(p2));
  expect(len).toBeLessThan(1500);
  expect(len).toBeGreaterThanOrEqual(500);
  await redis.del(streamKey(p2));
});
