// Integration: the route-message handler against real PostgreSQL and Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, INDEX_PLANS, type Pool } from '@hopmail/db';
import { createProducer, jobIdFor, type Payload, type QueueName } from '@hopmail/queue';
import { baseUrls, createTestDatabase, redisPrefix, startPrivateRedis, startTcpProxy, waitFor, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { createApp, type RoutingApp } from '../app.ts';
import { CodedError, createLogger, prom } from '@hopmail/service-kit';
import { addAlias, addDomain, addMailbox, buildApp, copies, countCalls, newMessage, recipients, redisFor, testConfig } from '../../test/fixtures.ts';

let db: TestDatabase;
let redis: Redis;
let prefix: string;
let app: RoutingApp;
let env: Record<string, string>;
/** The app's pool as runService makes routing's (INDEX_PLANS). */
let routingPool: Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = redisFor(baseUrls().redisUrl);
  prefix = redisPrefix();
  env = { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: prefix };
  routingPool = createPool(db.url, 10, 'hopmail-routing', INDEX_PLANS);
  app = buildApp(routingPool, redis, env);
  const p = db.pool;
  await addDomain(p, 'example.org');
  await addDomain(p, 'other.org');
  await addDomain(p, 'catch.org');
  await addDomain(p, 'rewrite.org');
  await addDomain(p, 'backup.test', 'relay');
  for (const a of ['alice@example.org', 'bob@example.org', 'carol@other.org', 'Mixed@example.org', 'gone@example.org']) await addMailbox(p, a);
  await addMailbox(p, 'small@example.org', 1000);
  await addMailbox(p, 'tiny@example.org', 1000);
  await addAlias(p, 'team@example.org', ['alice@example.org', 'bob@example.org', 'Ext@Remote.TEST']);
  await addAlias(p, 'nested@example.org', ['team@example.org', 'carol@other.org']);
  await addAlias(p, 'loop1@example.org', ['loop2@example.org']);
  await addAlias(p, 'loop2@example.org', ['loop1@example.org']);
  await addAlias(p, '@catch.org', ['alice@example.org']);
  await addAlias(p, '@rewrite.org', ['@other.org']);
  await addAlias(p, 'dup1@example.org', ['alice@example.org']);
  await addAlias(p, 'dup2@example.org', ['alice@example.org', 'bob@example.org']);
  await addAlias(p, 'fans@example.org', ['tiny@example.org', 'bob@example.org']);
});

afterAll(async () => {
  await app?.stop();
  await routingPool?.end();
  await redis?.quit();
  await db?.drop();
});

/** The job BullMQ holds for this payload, seen through a producer's queue. */
async function queuedJob<N extends QueueName>(name: N, payload: Payload<N>) {
  const q = createProducer(name, redis, prefix);
  try {
    return await q.queue.getJob(jobIdFor(name, payload));
  } finally {
    await q.close();
  }
}

const deliverRemoteJob = (messageId: string, domain: string) => queuedJob('deliver-remote', { messageId, domain });

describe('route-message handler', () => {
  it('delivers to a mailbox: one copy, uidl = message id, size, recipient delivered', async () => {
    const id = await newMessage(db.pool, ['alice@example.org']);
    await app.route(id);
    const mm = await db.pool.query('SELECT uidl, size, recipient_id IS NOT NULL AS has_rcpt FROM mailbox_messages WHERE message_id = $1', [id]);
    const m = await db.pool.query<{ size: number }>('SELECT size FROM messages WHERE id = $1', [id]);
    expect(mm.rows).toEqual([{ uidl: id, size: m.rows[0]!.size, has_rcpt: true }]);
    expect((await recipients(db.pool, id)).map((r) => r.status)).toEqual(['delivered']);
  });

  it('expands an alias to several targets: local copies, a relay row, a deliver-remote job', async () => {
    const id = await newMessage(db.pool, ['team@example.org']);
    const r = await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['alice@example.org', 'bob@example.org']);
    expect(await recipients(db.pool, id)).toEqual([
      { address: 'team@example.org', domain: 'example.org', status: 'expanded', last_reply: null, original: null, due: false },
      { address: 'Ext@remote.test', domain: 'remote.test', status: 'relay', last_reply: null, original: 'team@example.org', due: true },
    ]);
    expect(r.relayJobs).toEqual([`${id}@remote.test`]);
    const job = await deliverRemoteJob(id, 'remote.test');
    expect(job?.data).toEqual({ messageId: id, domain: 'remote.test' });
    // The trace triggers (0005) see the one-statement write like any other.
    const ev = await db.pool.query<{ type: string; recipient: string | null }>(`SELECT type, recipient FROM message_events WHERE message_id = $1 ORDER BY id`, [id]);
    expect(ev.rows).toEqual(
      expect.arrayContaining([
        { type: 'routed', recipient: 'team@example.org' },
        { type: 'routed', recipient: 'Ext@remote.test' },
      ]),
    );
    expect(ev.rows.filter((e) => e.type === 'delivered-mailbox')).toHaveLength(2);
  });

  it('follows nested aliases', async () => {
    const id = await newMessage(db.pool, ['nested@example.org']);
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['alice@example.org', 'bob@example.org', 'carol@other.org']);
    const rows = await recipients(db.pool, id);
    expect(rows.map((x) => [x.address, x.status])).toEqual([
      ['nested@example.org', 'expanded'],
      ['Ext@remote.test', 'relay'],
    ]);
  });

  it('bounces an alias loop 550 5.4.6', async () => {
    const id = await newMessage(db.pool, ['loop1@example.org']);
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual([]);
    const [row] = await recipients(db.pool, id);
    expect(row).toMatchObject({ status: 'bounced', last_reply: '550 5.4.6 <loop1@example.org>: alias loop' });
  });

  it('delivers through a catch-all @domain', async () => {
    const id = await newMessage(db.pool, ['whoever@catch.org']);
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['alice@example.org']);
    expect((await recipients(db.pool, id))[0]!.status).toBe('delivered');
  });

  it("rewrites the domain for a '@other.org' target", async () => {
    const id = await newMessage(db.pool, ['carol@rewrite.org']);
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['carol@other.org']);
  });

  it('delivers user+tag to user', async () => {
    const id = await newMessage(db.pool, ['bob+news@example.org']);
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['bob@example.org']);
  });

  it('compares local parts case-insensitively by default, domains always', async () => {
    const id = await newMessage(db.pool, ['ALICE@Example.ORG', 'mixed@EXAMPLE.org']);
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['Mixed@example.org', 'alice@example.org']);
  });

  it('eliminates duplicates: several recipients reaching one mailbox give one copy', async () => {
    const id = await newMessage(db.pool, ['dup1@example.org', 'dup2@example.org', 'alice@example.org', 'Alice+x@example.org']);
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['alice@example.org', 'bob@example.org']);
    // dup2 has two targets: an expansion (RFC 3461 §6.2.7.3), whatever copies it made.
    expect((await recipients(db.pool, id)).map((r) => r.status)).toEqual(['delivered', 'expanded', 'delivered', 'delivered']);
  });

  it('is idempotent: the handler run again, or twice at once, leaves exactly one copy', async () => {
    const id = await newMessage(db.pool, ['alice@example.org', 'team@example.org']);
    await Promise.all([app.route(id), app.route(id), app.route(id)]);
    await app.route(id);
    const mm = await db.pool.query('SELECT mailbox_id FROM mailbox_messages WHERE message_id = $1', [id]);
    expect(mm.rows).toHaveLength(2);
    const rows = await recipients(db.pool, id);
    expect(rows.map((r) => [r.address, r.status])).toEqual([
      ['alice@example.org', 'delivered'],
      ['team@example.org', 'expanded'],
      ['Ext@remote.test', 'relay'],
    ]);
  });

  it('bounces 552 5.2.2 when the mailbox would go over quota, and leaves usage unchanged', async () => {
    const first = await newMessage(db.pool, ['small@example.org'], { body: 'x'.repeat(500) });
    await app.route(first);
    expect(await copies(db.pool, first)).toEqual(['small@example.org']);
    const second = await newMessage(db.pool, ['small@example.org'], { body: 'y'.repeat(500) });
    await app.route(second);
    expect(await copies(db.pool, second)).toEqual([]);
    expect(await recipients(db.pool, second)).toMatchObject([{ status: 'bounced', last_reply: '552 5.2.2 <small@example.org>: mailbox full' }]);
    const used = await db.pool.query(`SELECT count(*)::int AS n FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id WHERE mb.address = 'small@example.org'`);
    expect(used.rows[0].n).toBe(1);
    // Running the first message's job again never counts it against itself.
    await db.pool.query(`UPDATE recipients SET status = 'queued' WHERE message_id = $1`, [first]);
    await app.route(first);
    expect(await recipients(db.pool, first)).toMatchObject([{ status: 'delivered' }]);
  });

  it('checks the quota against the usage counter, not by summing the mailbox (O(1) per delivery)', async () => {
    await addMailbox(db.pool, 'counted@example.org', 10_000);
    // The counter says nearly full although no row is there: the check must read the counter.
    await db.pool.query(`UPDATE mailboxes SET used_bytes = 9990 WHERE address = 'counted@example.org'`);
    const id = await newMessage(db.pool, ['counted@example.org']);
    await app.route(id);
    expect(await recipients(db.pool, id)).toMatchObject([{ status: 'bounced', last_reply: '552 5.2.2 <counted@example.org>: mailbox full' }]);
    await db.pool.query(`UPDATE mailboxes SET used_bytes = 0 WHERE address = 'counted@example.org'`);
    const next = await newMessage(db.pool, ['counted@example.org']);
    await app.route(next);
    expect(await copies(db.pool, next)).toEqual(['counted@example.org']);
    const size = (await db.pool.query<{ size: number }>('SELECT size FROM messages WHERE id = $1', [next])).rows[0]!.size;
    const usage = await db.pool.query(`SELECT used_bytes::int AS used, message_count AS n FROM mailboxes WHERE address = 'counted@example.org'`);
    expect(usage.rows[0]).toEqual({ used: size, n: 1 });
  });

  it('an alias with one full target delivers the others and bounces that target on its own row', async () => {
    const fill = await newMessage(db.pool, ['tiny@example.org'], { body: 'z'.repeat(900) });
    await app.route(fill);
    const id = await newMessage(db.pool, ['fans@example.org'], { body: 'w'.repeat(200) });
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['bob@example.org']);
    expect((await recipients(db.pool, id)).map((r) => [r.address, r.status, r.last_reply, r.original])).toEqual([
      ['fans@example.org', 'expanded', null, null],
      ['tiny@example.org', 'bounced', '552 5.2.2 <tiny@example.org>: mailbox full', 'fans@example.org'],
    ]);
  });

  it('bounces an unknown recipient 550 5.1.1 (mailbox deleted since RCPT); with the null sender it is failed', async () => {
    const id = await newMessage(db.pool, ['gone@example.org', 'alice@example.org']);
    await db.pool.query(`DELETE FROM mailboxes WHERE address = 'gone@example.org'`);
    await app.route(id);
    expect((await recipients(db.pool, id)).map((r) => [r.status, r.last_reply])).toEqual([
      ['bounced', '550 5.1.1 <gone@example.org>: no such user'],
      ['delivered', null],
    ]);
    const dsnLike = await newMessage(db.pool, ['nobody@example.org'], { mailFrom: '' });
    await app.route(dsnLike);
    expect(await recipients(db.pool, dsnLike)).toMatchObject([{ status: 'failed', last_reply: '550 5.1.1 <nobody@example.org>: no such user' }]);
  });

  it('a mailbox deleted while the lookups are cached: the fast path backs off and the recipient bounces', async () => {
    const cached = buildApp(db.pool, redis, { ...env, DIRECTORY_CACHE_MS: '60000' });
    try {
      await addMailbox(db.pool, 'brief@example.org');
      const warm = await newMessage(db.pool, ['brief@example.org']);
      await cached.route(warm);
      expect(await copies(db.pool, warm)).toEqual(['brief@example.org']);
      await db.pool.query(`DELETE FROM mailboxes WHERE address = 'brief@example.org'`);
      const id = await newMessage(db.pool, ['brief@example.org', 'bob@example.org']);
      await cached.route(id);
      expect((await recipients(db.pool, id)).map((r) => [r.status, r.last_reply])).toEqual([
        ['bounced', '550 5.1.1 <brief@example.org>: no such user'],
        ['delivered', null],
      ]);
      expect(await copies(db.pool, id)).toEqual(['bob@example.org']);
    } finally {
      await cached.stop();
    }
  });

  it('jobs in flight share statements; a mailbox deleted mid-batch bounces alone; a message twice in flight is one copy', async () => {
    const counted = countCalls(db.pool, 'query');
    const batched = buildApp(counted.pool, redis, { ...env, DIRECTORY_CACHE_MS: '60000' });
    try {
      await addMailbox(db.pool, 'doomed@example.org');
      const warm = await newMessage(db.pool, ['doomed@example.org', 'alice@example.org', 'bob@example.org']);
      await batched.route(warm);
      await db.pool.query(`DELETE FROM mailboxes WHERE address = 'doomed@example.org'`);
      const many = await Promise.all(Array.from({ length: 60 }, (_, i) => newMessage(db.pool, [i % 2 ? 'alice@example.org' : 'bob@example.org'])));
      counted.reset();
      await Promise.all([...many, many[0]!, many[1]!].map((id) => batched.route(id)));
      // Alone, 62 jobs are at least 124 statements (a read and a write each).
      expect(counted.calls()).toBeLessThan(30);
      // A batch that fails (here: the foreign key to the deleted mailbox) is run again
      // message by message: only the message for the deleted mailbox bounces.
      const more = await Promise.all(Array.from({ length: 10 }, () => newMessage(db.pool, ['alice@example.org'])));
      const doomed = await newMessage(db.pool, ['doomed@example.org', 'alice@example.org']);
      await Promise.all([...more, doomed].map((id) => batched.route(id)));
      const all = [...many, ...more];
      const counts = await db.pool.query<{ message_id: string; n: number }>(
        `SELECT message_id, count(*)::int AS n FROM mailbox_messages WHERE message_id = ANY($1::uuid[]) GROUP BY message_id`,
        [all],
      );
      expect(counts.rows).toHaveLength(70);
      expect(counts.rows.every((r) => r.n === 1)).toBe(true);
      const st = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients WHERE message_id = ANY($1::uuid[]) AND status = 'delivered'`, [all]);
      expect(st.rows[0]!.n).toBe(70);
      expect((await recipients(db.pool, doomed)).map((r) => [r.address, r.status, r.last_reply])).toEqual([
        ['doomed@example.org', 'bounced', '550 5.1.1 <doomed@example.org>: no such user'],
        ['alice@example.org', 'delivered', null],
      ]);
      expect(await copies(db.pool, doomed)).toEqual(['alice@example.org']);
    } finally {
      await batched.stop();
    }
  });

  it('jobs in flight on the quota path share transactions, and the quota holds exactly across a batch', async () => {
    const counted = countCalls(db.pool, 'connect');
    const batched = buildApp(counted.pool, redis, env);
    try {
      await addMailbox(db.pool, 'quota10@example.org', 1);
      const ids = await Promise.all(Array.from({ length: 30 }, () => newMessage(db.pool, ['quota10@example.org'], { body: 'q'.repeat(300) })));
      const size = (await db.pool.query<{ size: number }>('SELECT size FROM messages WHERE id = $1', [ids[0]])).rows[0]!.size;
      await db.pool.query(`UPDATE mailboxes SET quota_bytes = $1 WHERE address = 'quota10@example.org'`, [10 * size]);
      counted.reset();
      await Promise.all(ids.map((id) => batched.route(id)));
      // One transaction per message would be 30.
      expect(counted.calls()).toBeLessThan(15);
      const st = await db.pool.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM recipients WHERE message_id = ANY($1) GROUP BY status ORDER BY status`, [ids]);
      expect(st.rows).toEqual([
        { status: 'bounced', n: 20 },
        { status: 'delivered', n: 10 },
      ]);
      const usage = await db.pool.query(`SELECT used_bytes::int AS used, message_count AS n FROM mailboxes WHERE address = 'quota10@example.org'`);
      expect(usage.rows[0]).toEqual({ used: 10 * size, n: 10 });
    } finally {
      await batched.stop();
    }
  });

  it('concurrent messages cannot squeeze past a quota together', async () => {
    await addMailbox(db.pool, 'race@example.org', 2000);
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => newMessage(db.pool, ['race@example.org'], { body: String(i).repeat(400) })));
    const size = (await db.pool.query<{ size: number }>('SELECT size FROM messages WHERE id = $1', [ids[0]])).rows[0]!.size;
    await Promise.all(ids.map((id) => app.route(id)));
    const r = await db.pool.query<{ n: number; used: number }>(
      `SELECT count(*)::int AS n, coalesce(sum(mm.size), 0)::int AS used FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id WHERE mb.address = 'race@example.org'`,
    );
    expect(r.rows[0]!.n).toBe(Math.floor(2000 / size));
    expect(r.rows[0]!.used).toBeLessThanOrEqual(2000);
    // The same message three times at once on the locking path: still one copy.
    await addMailbox(db.pool, 'roomy@example.org', 1_000_000);
    const once = await newMessage(db.pool, ['roomy@example.org']);
    await Promise.all([app.route(once), app.route(once), app.route(once)]);
    expect(await copies(db.pool, once)).toEqual(['roomy@example.org']);
    const st = await db.pool.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM recipients WHERE message_id = ANY($1) GROUP BY status ORDER BY status`, [ids]);
    expect(st.rows).toEqual([
      { status: 'bounced', n: 8 - Math.floor(2000 / size) },
      { status: 'delivered', n: Math.floor(2000 / size) },
    ]);
  });

  it('relays an envelope recipient at a non-local or relay domain as is', async () => {
    const id = await newMessage(db.pool, ['x@Far.Example', 'y@backup.test']);
    const r = await app.route(id);
    expect((await recipients(db.pool, id)).map((x) => [x.address, x.domain, x.status, x.due])).toEqual([
      ['x@Far.Example', 'far.example', 'relay', true],
      ['y@backup.test', 'backup.test', 'relay', true],
    ]);
    expect(r.relayJobs.sort()).toEqual([`${id}@backup.test`, `${id}@far.example`]);
  });

  it('takes the relay domains from its write (no read after it); a job that finds nothing queued reads them once', async () => {
    const counted = countCalls(db.pool, 'query');
    const cached = buildApp(counted.pool, redis, { ...env, DIRECTORY_CACHE_MS: '60000' });
    try {
      await cached.route(await newMessage(db.pool, ['team@example.org', 'x@far.example']));
      const id = await newMessage(db.pool, ['team@example.org', 'x@far.example']);
      counted.reset();
      const r = await cached.route(id);
      expect(r.relayJobs).toEqual([`${id}@far.example`, `${id}@remote.test`]);
      // The directory and the quotas are cached: one read, one write.
      expect(counted.calls()).toBe(2);
      for (const domain of ['far.example', 'remote.test']) expect((await deliverRemoteJob(id, domain))?.data).toEqual({ messageId: id, domain });
      // A redelivered job (its first attempt died between the commit and the enqueue).
      counted.reset();
      const again = await cached.route(id);
      expect(again).toMatchObject({ decision: null, relayJobs: [`${id}@far.example`, `${id}@remote.test`] });
      expect(counted.calls()).toBe(2);
    } finally {
      await cached.stop();
    }
  });

  it('a bounce at routing time adds send-dsn {messageId, failed} at once, an alias target bounced on its own row too; never for failed', async () => {
    const id = await newMessage(db.pool, ['nobody@example.org', 'alice@example.org']);
    const r = await app.route(id);
    expect(r.dsnJob).toBe(`${id}/failed`);
    expect((await queuedJob('send-dsn', { messageId: id, reason: 'failed' }))?.data).toEqual({ messageId: id, reason: 'failed' });

    await addMailbox(db.pool, 'wee@example.org', 1);
    await addAlias(db.pool, 'pair@example.org', ['wee@example.org', 'bob@example.org']);
    const child = await newMessage(db.pool, ['pair@example.org']);
    expect((await app.route(child)).dsnJob).toBe(`${child}/failed`);
    expect((await recipients(db.pool, child)).map((x) => [x.address, x.status])).toEqual([
      ['pair@example.org', 'expanded'],
      ['wee@example.org', 'bounced'],
    ]);
    expect(await queuedJob('send-dsn', { messageId: child, reason: 'failed' })).toBeTruthy();

    // The null sender's recipients fail: no DSN can go anywhere.
    const dsnLike = await newMessage(db.pool, ['nobody@example.org'], { mailFrom: '' });
    expect((await app.route(dsnLike)).dsnJob).toBeNull();
    expect(await queuedJob('send-dsn', { messageId: dsnLike, reason: 'failed' })).toBeFalsy();
    const fine = await newMessage(db.pool, ['alice@example.org', 'x@far.example']);
    expect((await app.route(fine)).dsnJob).toBeNull();
    expect(await queuedJob('send-dsn', { messageId: fine, reason: 'failed' })).toBeFalsy();
  });

  it('keeps remote recipients whose local parts differ only in case apart (RFC 5321 §2.4); a local mailbox in two cases gets one copy', async () => {
    await addAlias(db.pool, 'cases@example.org', ['Ext@Remote.TEST', 'ext@remote.test', 'EXT@remote.test']);
    const id = await newMessage(db.pool, ['Y@far.example', 'y@far.example', 'Y@FAR.EXAMPLE', 'cases@example.org', 'Alice@example.org', 'alice@example.org']);
    await app.route(id);
    const rows = (await recipients(db.pool, id)).map((x) => [x.address, x.status]);
    expect(rows).toEqual([
      ['Y@far.example', 'relay'],
      ['y@far.example', 'relay'],
      ['cases@example.org', 'expanded'],
      ['Alice@example.org', 'delivered'],
      ['alice@example.org', 'delivered'],
      // Alias targets: the resolver writes their domain in lower case.
      ['Ext@remote.test', 'relay'],
      ['ext@remote.test', 'relay'],
      ['EXT@remote.test', 'relay'],
    ]);
    expect(await copies(db.pool, id)).toEqual(['alice@example.org']);
  });

  it('a missing message is a permanent error; a database outage is a temporary one', async () => {
    const err = await app.route('01890000-0000-7000-8000-000000000000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CodedError);
    expect((err as CodedError).temporary).toBe(false);

    const url = new URL(db.url);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    const pool = createPool(proxy.url(db.url), 2);
    const viaProxy = buildApp(pool, redis, env);
    try {
      const id = await newMessage(db.pool, ['alice@example.org']);
      proxy.down();
      const down = await viaProxy.route(id).catch((e: unknown) => e);
      expect(down).toBeInstanceOf(Error);
      expect(down instanceof CodedError && !down.temporary).toBe(false);
      proxy.up();
      await viaProxy.route(id);
      expect(await copies(db.pool, id)).toEqual(['alice@example.org']);
    } finally {
      await viaProxy.stop();
      await pool.end();
      await proxy.close();
    }
  });
});

describe('send-dsn when Redis refuses the job', () => {
  it('logs routing.route.dsn-enqueue-failed and goes on: the bounce is committed, the relay scheduler adds the DSN later', async () => {
    const privateRedis = await startPrivateRedis();
    const full = redisFor(privateRedis.url);
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('routing', 'info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const refused = createApp({ config: testConfig({ ...env, REDIS_URL: privateRedis.url }), logger, registry: new prom.Registry(), pool: db.pool, redis: full });
    try {
      // Every write is refused (OOM) from now on.
      await full.config('SET', 'maxmemory', '1');
      const id = await newMessage(db.pool, ['nobody@example.org', 'alice@example.org']);
      const r = await refused.route(id);
      expect(r.dsnJob).toBeNull();
      expect((await recipients(db.pool, id)).map((x) => x.status)).toEqual(['bounced', 'delivered']);
      expect(lines.find((l) => l.event === 'routing.route.dsn-enqueue-failed')).toMatchObject({ level: 'warn', msgId: id });
    } finally {
      await refused.stop();
      await full.quit();
      await privateRedis.stop();
    }
  });
});

describe('case-sensitive local parts and no subaddressing', () => {
  it('honours LOCAL_PART_CASE_SENSITIVE and SUBADDRESS_DELIMITER=none', async () => {
    const strict = buildApp(db.pool, redis, { ...env, LOCAL_PART_CASE_SENSITIVE: 'true', SUBADDRESS_DELIMITER: 'none' });
    try {
      // Separate messages: recipients(message_id, lower(address)) is unique, so one message
      // cannot carry two recipients differing only in case.
      const wrongCase = await newMessage(db.pool, ['mixed@example.org', 'bob+news@example.org']);
      await strict.route(wrongCase);
      expect(await copies(db.pool, wrongCase)).toEqual([]);
      expect((await recipients(db.pool, wrongCase)).map((r) => [r.status, r.last_reply])).toEqual([
        ['bounced', '550 5.1.1 <mixed@example.org>: no such user'],
        ['bounced', '550 5.1.1 <bob+news@example.org>: no such user'],
      ]);
      const rightCase = await newMessage(db.pool, ['Mixed@EXAMPLE.ORG']);
      await strict.route(rightCase);
      expect(await copies(db.pool, rightCase)).toEqual(['Mixed@example.org']);
    } finally {
      await strict.stop();
    }
  });
});

describe('expansion limits', () => {
  it('bounces past ALIAS_MAX_TARGETS (5.5.3) and ALIAS_MAX_DEPTH (5.4.6)', async () => {
    const limited = buildApp(db.pool, redis, { ...env, ALIAS_MAX_TARGETS: '2', ALIAS_MAX_DEPTH: '1' });
    try {
      const id = await newMessage(db.pool, ['team@example.org', 'nested@example.org', 'dup1@example.org']);
      await limited.route(id);
      expect((await recipients(db.pool, id)).map((r) => [r.address, r.status, r.last_reply])).toEqual([
        ['team@example.org', 'bounced', '550 5.5.3 <team@example.org>: alias expands to too many recipients'],
        ['nested@example.org', 'bounced', '550 5.5.3 <nested@example.org>: alias expands to too many recipients'],
        ['dup1@example.org', 'delivered', null],
      ]);
      // chain1 → chain2 → alice is two alias hops; with ALIAS_MAX_DEPTH=1 the only path is too deep.
      await addAlias(db.pool, 'chain1@example.org', ['chain2@example.org']);
      await addAlias(db.pool, 'chain2@example.org', ['alice@example.org']);
      const deep = await newMessage(db.pool, ['chain1@example.org', 'chain2@example.org']);
      await limited.route(deep);
      expect((await recipients(db.pool, deep)).map((r) => [r.address, r.status, r.last_reply])).toEqual([
        ['chain1@example.org', 'bounced', '550 5.4.6 <chain1@example.org>: alias loop'],
        ['chain2@example.org', 'delivered', null],
      ]);
    } finally {
      await limited.stop();
    }
  });
});

describe('the BullMQ worker', () => {
  it('retries with backoff while PostgreSQL is unreachable, then delivers', async () => {
    const url = new URL(db.url);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    const pool = createPool(proxy.url(db.url), 4);
    const p2 = redisPrefix();
    const viaProxy = buildApp(pool, redis, { ...env, REDIS_PREFIX: p2, RECONCILE_INTERVAL_MS: '3600000' });
    const producer = createProducer('route-message', redis, p2);
    try {
      const id = await newMessage(db.pool, ['alice@example.org']);
      proxy.down();
      await viaProxy.start();
      await producer.add({ messageId: id });
      await waitFor(async () => {
        const j = await producer.queue.getJob(id);
        return j && j.attemptsMade >= 1 && (await j.getState()) === 'delayed';
      }, { what: 'a failed attempt waiting for its backoff' });
      expect(await copies(db.pool, id)).toEqual([]);
      proxy.up();
      await waitFor(async () => (await copies(db.pool, id)).length === 1, { timeoutMs: 20_000, what: 'delivery after PostgreSQL came back' });
      const jobs = (await viaProxy.metrics.jobs.get()).values;
      expect(jobs.find((v) => v.labels.result === 'retry')?.value).toBeGreaterThanOrEqual(1);
    } finally {
      await viaProxy.stop();
      await producer.close();
      await pool.end();
      await proxy.close();
    }
  });


  it('routes enqueued jobs; a re-added job after completion leaves one copy; a missing message fails without retries', async () => {
    await app.start();
    const producer = createProducer('route-message', redis, prefix);
    try {
      const id = await newMessage(db.pool, ['bob@example.org']);
      await producer.add({ messageId: id });
      await waitFor(async () => (await copies(db.pool, id)).length === 1, { what: 'delivery through the worker' });
      await waitFor(async () => !(await producer.queue.getJob(id)), { what: 'completed job removed' });
      await producer.add({ messageId: id });
      await waitFor(async () => !(await producer.queue.getJob(id)), { what: 'second run' });
      expect(await copies(db.pool, id)).toEqual(['bob@example.org']);

      // Messages committed together come as one job (smtp-ingress's group commit): each is
      // routed; one that does not exist is dropped for good while the others arrive.
      const [a, b] = [await newMessage(db.pool, ['alice@example.org']), await newMessage(db.pool, ['carol@other.org'])];
      const gone = '01890000-0000-7000-8000-000000000002';
      await producer.add({ messageId: a, also: [gone, b] });
      await waitFor(async () => (await producer.queue.getJob(a))?.getState().then((s) => s === 'failed'), { what: 'the batch job failed for the missing message' });
      expect(await copies(db.pool, a)).toEqual(['alice@example.org']);
      expect(await copies(db.pool, b)).toEqual(['carol@other.org']);
      expect((await producer.queue.getJob(a))!.attemptsMade).toBe(1);

      const missing = '01890000-0000-7000-8000-000000000001';
      await producer.add({ messageId: missing });
      await waitFor(async () => (await producer.queue.getJob(missing))?.getState().then((s) => s === 'failed'), { what: 'permanent failure' });
      // Read the job again: a snapshot taken before the state changed still says 0 attempts.
      const failed = (await producer.queue.getJob(missing))!;
      expect(failed.attemptsMade).toBe(1);
      expect(await app.metrics.jobs.get()).toMatchObject({ values: expect.arrayContaining([expect.objectContaining({ labels: { result: 'completed' } })]) });
    } finally {
      await producer.close();
    }
  });
});
