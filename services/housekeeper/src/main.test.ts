// main.ts as its own process, the way `pnpm start` runs it.
import { recordEvent, streamKey } from '@hopmail/events';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, freePort, redisPrefix, startServiceProcess, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { afterAll, beforeAll, expect, test } from 'vitest';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

test('refuses a bad configuration, saying why (exit 78)', async () => {
  const p = startServiceProcess('housekeeper', { DATABASE_URL: db.url, HEALTH_PORT: '0', HOUSEKEEPING_INTERVAL_MS: '5' });
  await expect(p.ready).rejects.toThrow(/HOUSEKEEPING_INTERVAL_MS: /);
  expect(await p.exited).toBe(78);
  expect(p.logs.some((l) => l.event === 'config.invalid')).toBe(true);
});

test('runs as a process: ready, publishes trace events to the stream, then stops cleanly on SIGTERM', async () => {
  const healthPort = await freePort();
  const prefix = redisPrefix();
  const redis = queueRedis(baseUrls().redisUrl);
  const p = startServiceProcess('housekeeper', { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: prefix, HEALTH_PORT: String(healthPort), EVENTS_PUBLISH_INTERVAL_MS: '50' });
  try {
    await p.ready;
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toMatch(/redis/);
    await recordEvent(db.pool, { type: 'received', messageId: '01900000-0000-7000-8000-0000000000dd', data: { sender: 'a@x.example', size: 1, tls: false } });
    await waitFor(async () => (await redis.xlen(streamKey(prefix))) === 1, { what: 'the event on the stream' });
  } finally {
    expect(await p.kill('SIGTERM')).toBe(0);
    await redis.del(streamKey(prefix));
    await redis.quit();
  }
  expect(p.logs.some((l) => l.event === 'shutdown.done')).toBe(true);
  // (The kit may warn about the test Redis's persistence; the housekeeper itself must not.)
  expect(p.logs.filter((l) => (l.level === 'warn' || l.level === 'error') && String(l.event).startsWith('housekeeper.'))).toEqual([]);
});
