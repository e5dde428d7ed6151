// The routing service as its own process, the way `pnpm start` runs it: kill -9 in the
// middle of a batch, Redis flushed before routing ran, SIGTERM with jobs in flight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '@hopmail/queue';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, startPrivateRedis, startServiceProcess, waitFor, type ServiceProcess, type TestDatabase } from '@hopmail/test-kit';
import { addDomain, addMailbox, buildApp, newMessage } from '../test/fixtures.ts';

let db: TestDatabase;
const procs: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await addDomain(db.pool, 'example.org');
  await addMailbox(db.pool, 'user@example.org');
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  await db?.drop();
});

function start(env: Record<string, string>): ServiceProcess {
  const p = startServiceProcess('routing', {
    DATABASE_URL: db.url,
    HEALTH_HOST: '127.0.0.1',
    HEALTH_PORT: '0',
    ROUTING_LOCK_MS: '1000',
    RECONCILE_INTERVAL_MS: '300',
    RECONCILE_GRACE_MS: '500',
    ...env,
  });
  procs.push(p);
  return p;
}

async function insertBatch(n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 25) {
    const chunk = Array.from({ length: Math.min(25, n - i) }, (_, j) => newMessage(db.pool, ['user@example.org'], { body: `message ${i + j}` }));
    ids.push(...(await Promise.all(chunk)));
  }
  return ids;
}

async function delivered(ids: string[]): Promise<number> {
  const r = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients WHERE message_id = ANY($1) AND status = 'delivered'`, [ids]);
  return r.rows[0]!.n;
}

/** Every message in the mailbox exactly once and every recipient delivered. */
async function expectExactlyOnce(ids: string[]): Promise<void> {
  const r = await db.pool.query<{ message_id: string; n: number }>(
    `SELECT message_id, count(*)::int AS n FROM mailbox_messages WHERE message_id = ANY($1) GROUP BY message_id`,
    [ids],
  );
  expect(r.rows).toHaveLength(ids.length);
  expect(r.rows.every((x) => x.n === 1)).toBe(true);
  expect(await delivered(ids)).toBe(ids.length);
}

describe('routing process', () => {
  it('kill -9 in the middle of a batch: after a restart every message is in the mailbox exactly once', async () => {
    const prefix = redisPrefix();
    const redis = queueRedis(baseUrls().redisUrl);
    const route = createProducer('route-message', redis, prefix);
    try {
      const ids = await insertBatch(300);
      const env = { REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: prefix, ROUTING_CONCURRENCY: '4' };
      const first = start(env);
      await first.ready;
      await Promise.all(ids.map((messageId) => route.add({ messageId })));
      const atKill = await waitFor(async () => {
        const n = await delivered(ids);
        return n >= 30 ? n : undefined;
      }, { intervalMs: 2, what: 'some deliveries' });
      await first.kill('SIGKILL');
      const afterKill = await delivered(ids);
      expect(atKill).toBeLessThan(ids.length);
      expect(afterKill).toBeLessThan(ids.length);

      const second = start(env);
      await second.ready;
      await waitFor(async () => (await delivered(ids)) === ids.length, { timeoutMs: 60_000, what: 'every message after the restart' });
      await expectExactlyOnce(ids);
      expect(await second.kill('SIGTERM')).toBe(0);
    } finally {
      await route.close();
      await redis.quit();
    }
  }, 120_000);

  it('FLUSHALL before routing ran: the reconciler re-enqueues from PostgreSQL and every message arrives once', async () => {
    const priv = await startPrivateRedis();
    const redis = queueRedis(priv.url);
    redis.on('error', () => {}); // the private Redis is stopped at the end
    const prefix = redisPrefix();
    const route = createProducer('route-message', redis, prefix);
    try {
      const ids = await insertBatch(60);
      await Promise.all(ids.map((messageId) => route.add({ messageId })));
      expect(await redis.dbsize()).toBeGreaterThan(0);
      await redis.flushall();
      const p = start({ REDIS_URL: priv.url, REDIS_PREFIX: prefix, RECONCILE_GRACE_MS: '0' });
      await p.ready;
      await waitFor(async () => (await delivered(ids)) === ids.length, { timeoutMs: 60_000, what: 'every message after FLUSHALL' });
      await expectExactlyOnce(ids);
      expect(p.logs.find((l) => l.event === 'routing.reconcile.requeued')).toMatchObject({ queue: 'route-message', action: 'added', msgId: expect.any(String) });
      const done = p.logs.find((l) => l.event === 'routing.route.done');
      expect(done).toMatchObject({ queue: 'route-message', mailboxes: 1, relayed: 0, bounced: 0 });
      expect(done!.jobId).toBe(done!.msgId);
      expect(await p.kill('SIGTERM')).toBe(0);
    } finally {
      await route.close();
      await redis.quit();
      await priv.stop();
    }
  }, 120_000);

  it('SIGTERM with jobs in flight: finishes them, leaves no job active, exits 0', async () => {
    const prefix = redisPrefix();
    const redis = queueRedis(baseUrls().redisUrl);
    const route = createProducer('route-message', redis, prefix);
    try {
      const ids = await insertBatch(120);
      // Long grace: only the worker acts, so what is delivered is what it finished.
      const env = { REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: prefix, ROUTING_CONCURRENCY: '8', RECONCILE_GRACE_MS: '600000' };
      const p = start(env);
      await p.ready;
      await Promise.all(ids.map((messageId) => route.add({ messageId })));
      await waitFor(async () => (await delivered(ids)) >= 20, { intervalMs: 2, what: 'some deliveries' });
      expect(await p.kill('SIGTERM')).toBe(0);
      expect(p.logs.map((l) => l.event)).toEqual(expect.arrayContaining(['shutdown.start', 'shutdown.done']));
      const counts = await route.queue.getJobCounts('active', 'waiting', 'completed', 'failed');
      expect(counts.active).toBe(0);
      expect(counts.failed).toBe(0);
      // Nothing half-done: each message is either delivered (job gone) or still has its job.
      const done = await delivered(ids);
      expect((counts.waiting ?? 0) + done).toBe(ids.length);

      // The rest, by a worker in this process (one process start fewer on a busy machine).
      const again = buildApp(db.pool, redis, { DATABASE_URL: db.url, ...env });
      await again.start();
      try {
        await waitFor(async () => (await delivered(ids)) === ids.length, { timeoutMs: 60_000, what: 'the rest after restart' });
      } finally {
        await again.stop();
      }
      await expectExactlyOnce(ids);
    } finally {
      await route.close();
      await redis.quit();
    }
  }, 120_000);
});
