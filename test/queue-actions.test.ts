// Queue control against the real relay: listing with filters, bulk retry after an outage
// (exactly-once delivery of 1,000 messages), hold / release / delete with and without DSN.
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { waitFor } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MX_IP, startCluster, type Cluster } from './admin-cluster.ts';

let c: Cluster;
beforeAll(async () => {
  // No automatic retry within the test: only the API's retry brings deferred mail back.
  c = await startCluster({
    // Generous network timeouts: on a loaded machine a slow answer must not turn into a deferral
    // (or, after DATA, a possible duplicate) that this test would mistake for a retry problem.
    relay: { RELAY_RETRY_SCHEDULE: '3600000', RELAY_CONNECT_TIMEOUT_MS: '30000', RELAY_GREETING_TIMEOUT_MS: '30000', RELAY_SOCKET_TIMEOUT_MS: '60000' },
    relayProcess: true,
  });
  await c.api.call('POST', '/v1/domains', { name: 'local.test' });
  expect((await c.api.call('POST', '/v1/mailboxes', { address: 'alice@local.test', password: 'password-1' })).status).toBe(201);
});
afterAll(async () => {
  await c?.close();
});

const count = async (sql: string, params: unknown[] = []) => Number((await c.api.db.pool.query<{ n: string }>(sql, params)).rows[0]!.n);

describe('bulk retry after an MX outage', () => {
  const N = 1000;
  // The relay runs as its own process; routing, the fake MX and this API share this one.
  test(`${N} deferred messages are each delivered exactly once, and repeating the retry does nothing`, { timeout: 300_000 }, async () => {
    c.mx.behave(MX_IP, { greeting: 421 });
    const t0 = Date.now();
    const lap = (what: string) => process.env.HOPMAIL_TEST_TIMING && console.log(what, Date.now() - t0);
    // A real outage for some: sent, routed, tried against an MX answering 421, deferred.
    const ids: string[] = await Promise.all(Array.from({ length: 20 }, (_, i) => c.send('alice@local.test', [`user${i}@outage.test`])));
    await waitFor(async () => (await count(`SELECT count(*) n FROM recipients WHERE domain = 'outage.test' AND status = 'deferred'`)) === 20, { timeoutMs: 60_000, what: 'real deferrals' });
    lap('real outage');
    // The rest put straight into the state those are in (committed, deferred for an hour with
    // the MX's reply): the relay's first attempt is not what this test is about.
    const sample = (await c.api.db.pool.query(`SELECT attempts, next_attempt_at, last_reply, last_mx FROM recipients WHERE domain = 'outage.test' LIMIT 1`)).rows[0];
    for (let i = 20; i < N; i += 100) {
      const batch = Array.from({ length: Math.min(100, N - i) }, (_, j) => ({ id: newMessageId(), to: `user${i + j}@outage.test` }));
      await Promise.all(batch.map((b) => insertMessage(c.api.db.pool, { id: b.id, raw: Buffer.from(`From: alice@local.test\r\nSubject: x\r\nMessage-ID: <${b.id}@local.test>\r\n\r\nHi\r\n`), mailFrom: 'alice@local.test', recipients: [b.to] })));
      ids.push(...batch.map((b) => b.id));
    }
    await c.api.db.pool.query(
      `UPDATE recipients SET status = 'deferred', attempts = $1, next_attempt_at = $2, last_reply = $3, last_mx = $4 WHERE domain = 'outage.test' AND status = 'queued'`,
      [sample.attempts, sample.next_attempt_at, sample.last_reply, sample.last_mx],
    );
    expect(await count(`SELECT count(*) n FROM recipients WHERE domain = 'outage.test' AND status = 'deferred'`)).toBe(N);
    lap('deferred');

    const listed = await c.api.call('GET', '/v1/queue/recipients?status=deferred&domain=outage.test&reply=go%20away&limit=5');
    expect(listed.status).toBe(200);
    expect(listed.json.items).toHaveLength(5);
    expect(listed.json.items[0]).toMatchObject({ status: 'deferred', domain: 'outage.test', attempts: 1, lastReply: expect.stringMatching(/^421 .*go away/), lastMx: 'mx.remote.test', sender: 'alice@local.test' });
    expect(Date.parse(listed.json.items[0].nextAttemptAt)).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect((await c.api.call('GET', '/v1/queue/count?status=deferred&domain=outage.test')).json).toEqual({ count: N });
    const domains = await c.api.call('GET', '/v1/queue/domains');
    expect(domains.json.items.find((d: any) => d.domain === 'outage.test')).toMatchObject({ deferred: N, relay: 0, held: 0, oldestAgeSeconds: expect.any(Number) });
    const stats = await c.api.call('GET', '/v1/queue/stats');
    expect(stats.json.recipients.deferred.count).toBe(N);
    expect(stats.json.queues.map((q: any) => q.name).sort()).toEqual(['deliver-remote', 'route-message']);

    c.mx.behave(MX_IP, {});
    const before = c.mx.transactions.length;
    const r = await c.api.call('POST', '/v1/queue/retry', { filter: { status: ['deferred'], domain: 'outage.test' } });
    expect(r.status).toBe(200);
    // jobs: added or revived by this call; the relay's own scheduler may have been quicker for some.
    expect(r.json).toMatchObject({ action: 'retry', matched: N, changed: N, nextCursor: null });
    expect(r.json.jobs).toBeGreaterThan(0);
    lap('retried');
    await waitFor(async () => (await count(`SELECT count(*) n FROM recipients WHERE domain = 'outage.test' AND status = 'delivered'`)) === N, { timeoutMs: 240_000, what: 'all delivered' }).catch(async (err) => {
      const by = await c.api.db.pool.query(`SELECT status, left(last_reply, 80) AS reply, count(*)::int n FROM recipients WHERE domain = 'outage.test' GROUP BY 1, 2`);
      throw new Error(`${(err as Error).message}: ${JSON.stringify(by.rows)}`);
    });
    expect(await count(`SELECT count(*) n FROM relay_attempts WHERE domain = 'outage.test' AND outcome = 'possible-duplicate'`)).toBe(0);
    lap('delivered');

    // Repeating is harmless: nothing is deferred any more.
    const again = await c.api.call('POST', '/v1/queue/retry', { filter: { status: ['deferred'], domain: 'outage.test' } });
    expect(again.json).toEqual({ action: 'retry', matched: 0, changed: 0, jobs: 0, nextCursor: null });
    await new Promise((res) => setTimeout(res, 500));

    const got = new Map<string, number>();
    for (const t of c.mx.transactions.slice(before)) {
      const mid = /Message-ID: <([^@]+)@/i.exec(t.data.toString('utf8'))?.[1];
      if (mid) got.set(mid, (got.get(mid) ?? 0) + 1);
    }
    expect(got.size).toBe(N);
    expect([...got.values()].every((n) => n === 1)).toBe(true);
    expect(ids.every((id) => got.get(id) === 1)).toBe(true);
    expect(await count(`SELECT count(*) n FROM relay_attempts WHERE domain = 'outage.test' AND outcome = 'delivered'`)).toBe(N);
    // The audit log has the two bulk actions with their counts.
    const audit = (await c.api.call('GET', '/v1/audit?action=queue.retry')).json.items;
    expect(audit.map((e: any) => e.details.changed)).toEqual([0, N]);
  });
});

describe('hold, release, delete', () => {
  async function deferredMessage(rcpt: string): Promise<string> {
    c.mx.behave(MX_IP, { dataCode: 451 });
    const id = await c.send('alice@local.test', [rcpt]);
    await waitFor(async () => (await count(`SELECT count(*) n FROM recipients WHERE message_id = $1 AND status = 'deferred'`, [id])) === 1, { what: `${rcpt} deferred` });
    return id;
  }
  const status = async (id: string) => (await c.api.db.pool.query<{ status: string }>('SELECT status FROM recipients WHERE message_id = $1', [id])).rows[0]!.status;

  test('hold stops delivery until release; both are safe to repeat', async () => {
    const id = await deferredMessage('held@remote.test');
    const hold = await c.api.call('POST', '/v1/queue/hold', { filter: { messageId: id } });
    expect(hold.json).toEqual({ action: 'hold', matched: 1, changed: 1, jobs: 0, nextCursor: null });
    expect((await c.api.call('POST', '/v1/queue/hold', { filter: { messageId: id } })).json).toMatchObject({ matched: 0, changed: 0 });
    c.mx.behave(MX_IP, {});
    // Retry does not touch held rows, and the relay's scheduler ignores them.
    expect((await c.api.call('POST', '/v1/queue/retry', { filter: { messageId: id } })).json).toMatchObject({ changed: 0 });
    await c.api.db.pool.query(`UPDATE recipients SET next_attempt_at = now() WHERE message_id = $1`, [id]);
    await new Promise((r) => setTimeout(r, 400));
    expect(await status(id)).toBe('held');
    const listed = await c.api.call('GET', `/v1/queue/recipients?status=held`);
    expect(listed.json.items.map((x: any) => x.messageId)).toContain(id);
    const rel = await c.api.call('POST', '/v1/queue/release', { filter: { messageId: id } });
    expect(rel.json).toMatchObject({ matched: 1, changed: 1, jobs: expect.any(Number) });
    await waitFor(async () => (await status(id)) === 'delivered', { what: 'delivered after release' });
    expect((await c.api.call('POST', '/v1/queue/release', { filter: { messageId: id } })).json).toMatchObject({ changed: 0 });
  });

  test('release of mail held at submission (never routed) routes it: the local recipient reaches the mailbox, the remote one the MX', async () => {
    c.mx.behave(MX_IP, {});
    // What smtp-ingress commits when rspamd rejects an authenticated submission.
    const id = newMessageId();
    await insertMessage(c.api.db.pool, {
      id,
      raw: Buffer.from(`From: alice@local.test\r\nTo: alice@local.test, out@remote.test\r\nSubject: held\r\nMessage-ID: <${id}@local.test>\r\n\r\nHi\r\n`),
      mailFrom: 'alice@local.test',
      recipients: ['alice@local.test', 'out@remote.test'],
      held: true,
    });
    const rows = async () => (await c.api.db.pool.query<{ address: string; status: string }>('SELECT address, status FROM recipients WHERE message_id = $1 ORDER BY address', [id])).rows;
    expect((await rows()).map((r) => r.status)).toEqual(['held', 'held']);
    const before = c.mx.transactions.length;
    const rel = await c.api.call('POST', '/v1/queue/release', { filter: { messageId: id } });
    expect(rel.json).toMatchObject({ action: 'release', matched: 2, changed: 2, jobs: 1 });
    await waitFor(async () => (await rows()).every((r) => r.status === 'delivered'), { what: 'both delivered after release' });
    // The local copy is in alice's mailbox, and only the remote recipient went to the MX.
    expect(await count(`SELECT count(*) n FROM mailbox_messages WHERE message_id = $1`, [id])).toBe(1);
    const sent = c.mx.transactions.slice(before).filter((t) => t.data.toString('utf8').includes(`<${id}@local.test>`));
    expect(sent.map((t) => t.to)).toEqual([['out@remote.test']]);
    expect((await c.api.call('POST', '/v1/queue/release', { filter: { messageId: id } })).json).toMatchObject({ changed: 0, jobs: 0 });
  });

  test('delete with a DSN bounces to the sender; without, the recipient just fails', async () => {
    const withDsn = await deferredMessage('gone1@remote.test');
    const without = await deferredMessage('gone2@remote.test');
    c.mx.behave(MX_IP, {});
    expect((await c.api.call('POST', '/v1/queue/delete', { filter: { messageId: withDsn }, dsn: true })).json).toMatchObject({ changed: 1 });
    expect((await c.api.call('POST', '/v1/queue/delete', { filter: { messageId: without } })).json).toMatchObject({ changed: 1 });
    expect((await c.api.call('POST', '/v1/queue/delete', { filter: { messageId: without } })).json).toMatchObject({ changed: 0 });
    expect(await status(without)).toBe('failed');
    // The relay's scheduler sends the DSN that bounced rows still owe.
    const dsn = await waitFor(async () => (await c.api.db.pool.query(`SELECT dsn_sent_at FROM recipients WHERE message_id = $1 AND dsn_sent_at IS NOT NULL`, [withDsn])).rows[0]);
    expect(dsn).toBeTruthy();
    const t = (await c.api.call('GET', `/v1/messages/${withDsn}/trace`)).json.events.map((e: any) => e.type);
    expect(t.slice(-3)).toEqual(['admin-action', 'bounced', 'dsn-sent']);
    const t2 = (await c.api.call('GET', `/v1/messages/${without}/trace`)).json.events;
    expect(t2.map((e: any) => e.type)).not.toContain('dsn-sent');
    expect(t2.find((e: any) => e.type === 'admin-action').data.action).toBe('delete');
  });

  test('bulk filters need at least one condition, and maxRows walks in steps with a cursor', async () => {
    expect((await c.api.call('POST', '/v1/queue/retry', { filter: {} })).status).toBe(400);
    const ids = await Promise.all([1, 2, 3].map((i) => deferredMessage(`step${i}@remote.test`)));
    const f = { filter: { sender: 'alice@local.test', domain: 'remote.test', status: ['deferred'] } };
    let cursor: string | undefined;
    let changed = 0;
    let calls = 0;
    do {
      const r = await c.api.call('POST', '/v1/queue/hold', { ...f, maxRows: 1, ...(cursor ? { cursor } : {}) });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      changed += r.json.changed;
      cursor = r.json.nextCursor ?? undefined;
      calls++;
    } while (cursor && calls < 10);
    expect(changed).toBe(3);
    for (const id of ids) expect(await status(id)).toBe('held');
    await c.api.call('POST', '/v1/queue/delete', { filter: { status: ['held'], domain: 'remote.test' } });
  });
});
