// The DSN hand-off (Postfix's bounce(8)): finish() and routing enqueue send-dsn, the send-dsn
// job reports what PostgreSQL says is owed, and the scheduler's sweep adds the job that Redis
// lost. PostgreSQL decides, Redis carries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCKS, rollback, withAdvisoryLock, withTransaction } from '@hopmail/db';
import { createProducer, type Producer } from '@hopmail/queue';
import { failFastRedis, queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, startFakeDns, waitFor, type FakeDns, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { commitMessage, dsnsFor, recipientsOf } from '../test/mail.ts';
import type { ReportResult } from './adapters/dsn-store.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

let db: TestDatabase;
let redis: Redis;
let dns: FakeDns;
let prefix: string;
/** Built, not started: these tests run its handlers and scheduler pass themselves. */
let relay: TestRelay;
/** To look at the jobs the relay added. */
let sendDsnJobs: Producer<'send-dsn'>;
let routeJobs: Producer<'route-message'>;

beforeAll(async () => {
  db = await createTestDatabase();
  prefix = redisPrefix();
  redis = queueRedis(baseUrls().redisUrl);
  // Authoritative for `test` with no records: every domain under it is NXDOMAIN.
  dns = await startFakeDns({ host: '127.0.0.56', records: [{ name: 'test', type: 'SOA', data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 } }] });
  relay = await startRelay({ db, prefix, redis, dns, start: false, env: { DNS_TIMEOUT_MS: '500', DNS_TRIES: '1', RELAY_SCHEDULER_INTERVAL_MS: '50' } });
  sendDsnJobs = createProducer('send-dsn', redis, prefix);
  routeJobs = createProducer('route-message', redis, prefix);
});

afterAll(async () => {
  await relay?.stop();
  await sendDsnJobs?.close();
  await routeJobs?.close();
  await dns?.stop();
  await redis?.quit();
  await db?.drop();
});

/** A message whose recipients routing (or an attempt) left in these states. */
async function messageWith(states: Record<string, 'bounced' | 'deferred'>, opts: { from?: string } = {}): Promise<string> {
  const id = await commitMessage(db, Object.keys(states), { ...opts, receivedAgoMs: 5 * 3600_000 });
  for (const [address, status] of Object.entries(states)) {
    const reply = status === 'bounced' ? `550 5.1.1 <${address}>: mailbox unavailable` : '451 4.2.1 try later';
    await db.pool.query(`UPDATE recipients SET status = $3, last_reply = $4, last_mx = 'mx.remote.test' WHERE message_id = $1 AND address = $2`, [id, address, status, reply]);
  }
  return id;
}

async function waitingForLocks(): Promise<number> {
  const r = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
  return r.rows[0]!.n;
}

describe('send-dsn: each recipient reported once, whatever the jobs do', () => {
  it('one DSN for a message when the job runs twice, and when copies of it race', async () => {
    const id = await messageWith({ 'gone@remote.test': 'bounced', 'lost@remote.test': 'bounced' });
    const job = { messageId: id, reason: 'failed' } as const;
    // Three copies start while the recipients are locked, so all three are in flight together.
    let racing: Promise<ReportResult[]> | undefined;
    await withTransaction(db.pool, async (client) => {
      await client.query('SELECT 1 FROM recipients WHERE message_id = $1 FOR UPDATE', [id]);
      racing = Promise.all([1, 2, 3].map(() => relay.app.sendDsn(job)));
      await waitFor(async () => (await waitingForLocks()) >= 3, { what: 'three send-dsn jobs waiting for the rows' });
      return rollback(undefined);
    });
    const raced = await racing!;
    expect(raced.filter((r) => r.kind === 'sent')).toHaveLength(1);
    expect(raced.filter((r) => r.kind === 'nothing')).toHaveLength(2);
    expect(await relay.app.sendDsn(job)).toEqual({ kind: 'nothing' }); // delivered again later
    const dsns = await dsnsFor(db, id);
    expect(dsns).toHaveLength(1);
    expect(dsns[0]!.to).toBe('alice@local.test');
    expect(dsns[0]!.raw).toContain('Final-Recipient: rfc822; gone@remote.test');
    expect(dsns[0]!.raw).toContain('Final-Recipient: rfc822; lost@remote.test');
    const r = await recipientsOf(db, id);
    expect(r['gone@remote.test']!.dsn_sent_at).not.toBeNull();
    expect(r['lost@remote.test']!.dsn_sent_at).not.toBeNull();
    expect(relay.logs.filter((l) => l.event === 'outbound-relay.dsn-sent' && l.msgId === id)).toHaveLength(1);
    // The DSN is mail like any other: routing delivers it.
    expect(await routeJobs.getJob({ messageId: dsns[0]!.id })).toBeDefined();
  });

  it('a later bounce of the same message gets a DSN of its own, naming only the new recipient', async () => {
    const id = await messageWith({ 'first@remote.test': 'bounced', 'second@remote.test': 'deferred' });
    await relay.app.sendDsn({ messageId: id, reason: 'failed' });
    await db.pool.query(`UPDATE recipients SET status = 'bounced' WHERE message_id = $1 AND address = 'second@remote.test'`, [id]);
    expect(await relay.app.sendDsn({ messageId: id, reason: 'failed' })).toMatchObject({ kind: 'sent', recipients: 1 });
    const dsns = await dsnsFor(db, id);
    expect(dsns).toHaveLength(2);
    expect(dsns[1]!.raw).toContain('Final-Recipient: rfc822; second@remote.test');
    expect(dsns[1]!.raw).not.toContain('first@remote.test');
  });

  it('reason delayed: one warning for the deferred recipients not yet warned, none for the bounced; a null sender is warned about nothing', async () => {
    const id = await messageWith({ 'slow@remote.test': 'deferred', 'gone@remote.test': 'bounced' });
    expect(await relay.app.sendDsn({ messageId: id, reason: 'delayed' })).toMatchObject({ kind: 'sent', recipients: 1 });
    expect(await relay.app.sendDsn({ messageId: id, reason: 'delayed' })).toEqual({ kind: 'nothing' });
    const dsns = await dsnsFor(db, id);
    expect(dsns).toHaveLength(1);
    expect(dsns[0]!.raw).toContain('Action: delayed\r\nStatus: 4.2.1');
    expect(dsns[0]!.raw).toContain('Will-Retry-Until: ');
    expect(dsns[0]!.raw).not.toContain('gone@remote.test');
    const r = await recipientsOf(db, id);
    expect(r['slow@remote.test']!.delay_warned_at).not.toBeNull();
    expect(r['slow@remote.test']!.status).toBe('deferred');
    expect(r['gone@remote.test']!.dsn_sent_at).toBeNull(); // still owed its failure DSN

    const bounce = await messageWith({ 'slow@remote.test': 'deferred' }, { from: '' });
    expect(await relay.app.sendDsn({ messageId: bounce, reason: 'delayed' })).toEqual({ kind: 'suppressed', recipients: 1 });
    expect((await recipientsOf(db, bounce))['slow@remote.test']!.delay_warned_at).not.toBeNull();
    expect(await dsnsFor(db, bounce)).toHaveLength(0);
  });

  it('the scheduler pass runs in one replica at a time: while another holds its lock, a pass does nothing', async () => {
    const id = await messageWith({ 'held@remote.test': 'bounced' });
    const skipped = await withAdvisoryLock(db.pool, LOCKS.relayScheduler, () => relay.app.scheduler.tick(), { scope: 'transaction' });
    expect(skipped).toBeNull();
    expect(await sendDsnJobs.getJob({ messageId: id, reason: 'failed' })).toBeUndefined();
    const pass = await relay.app.scheduler.tick();
    expect(pass?.dsnJobs).toBeGreaterThanOrEqual(1);
    expect(await sendDsnJobs.getJob({ messageId: id, reason: 'failed' })).toBeDefined();
  });
});

describe('the hand-off from finish()', () => {
  it('a send-dsn job finish() could not add is added by the scheduler sweep, and the DSN is written', async () => {
    // A second relay whose Redis has just gone away: finish() records the bounce in
    // PostgreSQL, cannot add the send-dsn job, logs it and goes on.
    const gone = failFastRedis(baseUrls().redisUrl);
    gone.disconnect();
    const later = () => new Date(Date.now() + 2 * 3600_000);
    const cut = await startRelay({ db, prefix, redis: gone, dns, start: false, now: later, env: { DNS_TIMEOUT_MS: '500', DNS_TRIES: '1' } });
    // Due only by the cut relay's clock, so the running relay's scheduler leaves it alone.
    const id = await commitMessage(db, ['x@nowhere.test']);
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() + interval '1 hour' WHERE message_id = $1`, [id]);
    const running = await startRelay({ db, prefix, redis, dns, env: { RELAY_SCHEDULER_INTERVAL_MS: '50' } });
    try {
      await cut.app.deliver({ messageId: id, domain: 'nowhere.test' });
      const r = await recipientsOf(db, id);
      expect(r['x@nowhere.test']!.status).toBe('bounced');
      expect(r['x@nowhere.test']!.last_reply).toMatch(/^550 5\.1\.2 /);
      expect(cut.logs.filter((l) => l.event === 'outbound-relay.send-dsn-enqueue-failed' && l.msgId === id)).toHaveLength(1);
      // PostgreSQL still says the DSN is owed: the sweep adds the job, its worker writes the DSN.
      const dsns = await waitFor(async () => ((await dsnsFor(db, id)).length ? dsnsFor(db, id) : undefined), { what: 'the DSN, through the sweep' });
      expect(dsns).toHaveLength(1);
      expect(dsns[0]!.raw).toContain('Status: 5.1.2');
    } finally {
      await running.stop();
      await cut.stop();
    }
  });
});
