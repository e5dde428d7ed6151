// Two relay replicas on one database and one Redis prefix: every message is delivered once,
// and the per-host connection limit holds across both.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, startFakeDns, startFakeMx, waitFor, type FakeDns, type FakeMx, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

let db: TestDatabase;
let dns: FakeDns;
let mx: FakeMx;
const redises: Redis[] = [];
const apps: TestRelay[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  mx = await startFakeMx(['127.0.0.81']);
  dns = await startFakeDns({
    host: '127.0.0.80',
    records: [
      { name: 'mx.rep.test', type: 'A', data: '127.0.0.81' },
      ...Array.from({ length: 5 }, (_, i) => ({ name: `d${i}.rep.test`, type: 'MX' as const, data: { preference: 10, exchange: 'mx.rep.test' } })),
    ],
  });
  const prefix = redisPrefix();
  for (let i = 0; i < 2; i++) {
    const redis = queueRedis(baseUrls().redisUrl);
    redises.push(redis);
    apps.push(
      await startRelay({ db, prefix, redis, mx, dns, env: {
        RELAY_ALLOW_LOOPBACK_MX: 'true',
        RELAY_SCHEDULER_INTERVAL_MS: '50',
        RELAY_MAX_CONNECTIONS_PER_HOST: '2',
        RELAY_THROTTLE_DELAY_MS: '50',
        RELAY_CONCURRENCY: '8',
      } }),
    );
  }
});

afterAll(async () => {
  for (const a of apps) await a.stop();
  for (const r of redises) await r.quit();
  await mx?.stop();
  await dns?.stop();
  await db?.drop();
});

it('two replicas deliver each message exactly once and share the per-host connection limit', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const id = newMessageId();
    await insertMessage(db.pool, { id, raw: Buffer.from(`Subject: ${id}\r\n\r\nhi\r\n`), mailFrom: 'alice@local.test', recipients: [`r${i}@d${i % 5}.rep.test`] });
    ids.push(id);
  }
  await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now()`);
  await waitFor(async () => (await db.pool.query(`SELECT count(*)::int AS n FROM recipients WHERE status = 'delivered'`)).rows[0].n === 30, { timeoutMs: 20_000, what: '30 deliveries' });
  expect(mx.transactions).toHaveLength(30);
  expect(new Set(mx.transactions.map((t) => t.to[0])).size).toBe(30);
  expect(mx.maxOpen).toBeLessThanOrEqual(2);
  const attempts = await db.pool.query(`SELECT count(*)::int AS n FROM relay_attempts WHERE outcome = 'delivered'`);
  expect(attempts.rows[0].n).toBe(30);
}, 30_000);
