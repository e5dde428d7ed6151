// Integration: the reconciler decides from PostgreSQL and makes the jobs exist in Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { UnrecoverableError, Worker } from 'bullmq';
import { createProducer, jobIdFor } from '@hopmail/queue';
import { baseUrls, createTestDatabase, redisPrefix, waitFor, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { LOCKS } from '@hopmail/db';
import { addDomain, addMailbox, buildApp, copies, newMessage, redisFor } from '../../test/fixtures.ts';

let db: TestDatabase;
let redis: Redis;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = redisFor(baseUrls().redisUrl);
  await addDomain(db.pool, 'example.org');
  await addMailbox(db.pool, 'alice@example.org');
});

afterAll(async () => {
  await redis?.quit();
  await db?.drop();
});

function envFor(prefix: string, extra: Record<string, string> = {}) {
  return { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: prefix, RECONCILE_GRACE_MS: '0', ...extra };
}

async function clearQueued() {
  // Each test starts from a clean slate of unfinished rows.
  await db.pool.query(`UPDATE recipients SET status = 'delivered' WHERE status IN ('queued', 'relay')`);
}

describe('reconciler', () => {
  it('re-adds route-message jobs for queued messages whose job is gone, once', async () => {
    await clearQueued();
    const prefix = redisPrefix();
    const app = buildApp(db.pool, redis, envFor(prefix));
    const route = createProducer('route-message', redis, prefix);
    try {
      const ids = [await newMessage(db.pool, ['alice@example.org']), await newMessage(db.pool, ['alice@example.org'])];
      const first = await app.reconciler.runOnce();
      expect(first).toMatchObject({ ran: true, route: { scanned: 2, added: 2, retried: 0 } });
      for (const id of ids) expect(await route.queue.getJob(id)).toBeTruthy();
      const second = await app.reconciler.runOnce();
      expect(second.route).toEqual({ scanned: 2, added: 0, retried: 0 });
      expect((await app.metrics.reconcileRequeued.get()).values).toEqual([expect.objectContaining({ labels: { queue: 'route-message', action: 'added' }, value: 2 })]);
    } finally {
      await route.close();
      await app.stop();
    }
  });

  it('leaves recipients younger than the grace period to the normal path', async () => {
    await clearQueued();
    const app = buildApp(db.pool, redis, envFor(redisPrefix(), { RECONCILE_GRACE_MS: '600000' }));
    try {
      await newMessage(db.pool, ['alice@example.org']);
      expect((await app.reconciler.runOnce()).route).toEqual({ scanned: 0, added: 0, retried: 0 });
    } finally {
      await app.stop();
    }
  });

  it('retries a job BullMQ kept as failed', async () => {
    await clearQueued();
    const prefix = redisPrefix();
    const app = buildApp(db.pool, redis, envFor(prefix));
    const route = createProducer('route-message', redis, prefix);
    try {
      const id = await newMessage(db.pool, ['alice@example.org']);
      await route.add({ messageId: id });
      // A worker that fails every job, the way a job ends after its last attempt.
      const failing = new Worker('route-message', async () => {
        throw new UnrecoverableError('simulated');
      }, { connection: redis, prefix });
      await waitFor(async () => (await (await route.queue.getJob(id))?.getState()) === 'failed', { what: 'failed job' });
      await failing.close();
      expect((await app.reconciler.runOnce()).route).toEqual({ scanned: 1, added: 0, retried: 1 });
      expect(await (await route.queue.getJob(id))!.getState()).toBe('waiting');
    } finally {
      await route.close();
      await app.stop();
    }
  });

  it('re-adds deliver-remote jobs for due relay rows only, per (message, domain)', async () => {
    await clearQueued();
    const prefix = redisPrefix();
    const app = buildApp(db.pool, redis, envFor(prefix));
    const relay = createProducer('deliver-remote', redis, prefix);
    try {
      const due = await newMessage(db.pool, ['a@one.test', 'b@one.test', 'c@Two.test']);
      const later = await newMessage(db.pool, ['d@three.test']);
      await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() - interval '1 minute' WHERE message_id = $1`, [due]);
      await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() + interval '1 hour' WHERE message_id = $1`, [later]);
      const r = await app.reconciler.runOnce();
      expect(r.relay).toEqual({ scanned: 2, added: 2, retried: 0 });
      const ids = (await relay.queue.getJobs(['waiting'])).map((j) => j.id).sort();
      expect(ids).toEqual([jobIdFor('deliver-remote', { messageId: due, domain: 'one.test' }), jobIdFor('deliver-remote', { messageId: due, domain: 'two.test' })].sort());
    } finally {
      await relay.close();
      await app.stop();
    }
  });

  it('pages through a backlog larger than one batch', async () => {
    await clearQueued();
    const prefix = redisPrefix();
    const app = buildApp(db.pool, redis, envFor(prefix, { RECONCILE_BATCH: '7' }));
    try {
      for (let i = 0; i < 23; i++) await newMessage(db.pool, ['alice@example.org']);
      expect((await app.reconciler.runOnce()).route).toEqual({ scanned: 23, added: 23, retried: 0 });
    } finally {
      await app.stop();
    }
  });

  it('skips the pass while another replica holds the lock', async () => {
    await clearQueued();
    const app = buildApp(db.pool, redis, envFor(redisPrefix()));
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await newMessage(db.pool, ['alice@example.org']);
      await other.query('SELECT pg_advisory_lock($1)', [LOCKS.reconciler]);
      expect((await app.reconciler.runOnce()).ran).toBe(false);
      await other.query('SELECT pg_advisory_unlock($1)', [LOCKS.reconciler]);
      expect((await app.reconciler.runOnce()).ran).toBe(true);
    } finally {
      await other.end();
      await app.stop();
    }
  });

  it('two replicas started on unrouted mail deliver every message exactly once', async () => {
    await clearQueued();
    const prefix = redisPrefix();
    const env = envFor(prefix, { RECONCILE_INTERVAL_MS: '100' });
    const a = buildApp(db.pool, redis, env);
    const b = buildApp(db.pool, redis, env);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push(await newMessage(db.pool, ['alice@example.org']));
      await Promise.all([a.start(), b.start()]);
      await waitFor(async () => {
        const r = await db.pool.query(`SELECT count(*)::int AS n FROM recipients WHERE message_id = ANY($1) AND status = 'delivered'`, [ids]);
        return r.rows[0].n === ids.length;
      }, { what: 'all routed' });
      for (const id of ids) expect(await copies(db.pool, id)).toEqual(['alice@example.org']);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
