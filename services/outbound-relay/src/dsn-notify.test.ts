// DSN requests honoured by the DSN writer (RFC 3461): NOTIFY decides who is reported
// (NEVER: nobody; without FAILURE: no bounce; without DELAY: no warning; absent: failures
// and delays, as before), RET=FULL returns the message and RET=HDRS only its headers, and
// ENVID and ORCPT come back as Original-Envelope-Id and Original-Recipient (RFC 3464).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, startFakeDns, type FakeDns, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { commitMessage, dsnsFor, message, recipientsOf, type CommitOptions } from '../test/mail.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

let db: TestDatabase;
let redis: Redis;
let dns: FakeDns;
let relay: TestRelay;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = queueRedis(baseUrls().redisUrl);
  dns = await startFakeDns({ host: '127.0.0.57', records: [{ name: 'test', type: 'SOA', data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 } }] });
  relay = await startRelay({ db, prefix: redisPrefix(), redis, dns, start: false, env: { DNS_TIMEOUT_MS: '500', DNS_TRIES: '1' } });
});

afterAll(async () => {
  await relay?.stop();
  await dns?.stop();
  await redis?.quit();
  await db?.drop();
});

type Notify = string[] | null;

/** A message whose recipients (address → [state, NOTIFY]) an attempt left bounced or deferred. */
async function messageWith(states: Record<string, ['bounced' | 'deferred', Notify, string?]>, dsn: Omit<NonNullable<CommitOptions['dsn']>, 'recipientDsn'> = {}, raw?: Buffer): Promise<string> {
  const addresses = Object.keys(states);
  const id = await commitMessage(db, addresses, { receivedAgoMs: 5 * 3600_000, ...(raw ? { raw } : {}), dsn: { ...dsn, recipientDsn: addresses.map((a) => ({ notify: states[a]![1], orcpt: states[a]![2] ?? null })) } });
  for (const [address, [status]] of Object.entries(states)) {
    const reply = status === 'bounced' ? `550 5.1.1 <${address}>: mailbox unavailable` : '451 4.2.1 try later';
    await db.pool.query(`UPDATE recipients SET status = $3, last_reply = $4, last_mx = 'mx.remote.test' WHERE message_id = $1 AND address = $2`, [id, address, status, reply]);
  }
  return id;
}

describe('NOTIFY', () => {
  it('failures: absent and FAILURE are reported; NEVER, SUCCESS and DELAY alone are not, and end failed (nothing owed any more)', async () => {
    const id = await messageWith({
      'absent@remote.test': ['bounced', null],
      'failure@remote.test': ['bounced', ['FAILURE']],
      'never@remote.test': ['bounced', ['NEVER']],
      'success@remote.test': ['bounced', ['SUCCESS']],
      'delay@remote.test': ['bounced', ['DELAY']],
    });
    expect(await relay.app.sendDsn({ messageId: id, reason: 'failed' })).toMatchObject({ kind: 'sent', recipients: 2 });
    const dsns = await dsnsFor(db, id);
    expect(dsns).toHaveLength(1);
    expect(dsns[0]!.raw).toContain('Final-Recipient: rfc822; absent@remote.test');
    expect(dsns[0]!.raw).toContain('Final-Recipient: rfc822; failure@remote.test');
    for (const quiet of ['never', 'success', 'delay']) expect(dsns[0]!.raw).not.toContain(`${quiet}@remote.test`);
    const r = await recipientsOf(db, id);
    for (const quiet of ['never', 'success', 'delay']) {
      expect(r[`${quiet}@remote.test`]).toMatchObject({ status: 'failed' });
      expect(r[`${quiet}@remote.test`]!.dsn_sent_at).not.toBeNull();
    }
    expect(r['absent@remote.test']).toMatchObject({ status: 'bounced' });
    // The scheduler's sweep finds nothing left to report for this message.
    expect(await relay.app.sendDsn({ messageId: id, reason: 'failed' })).toEqual({ kind: 'nothing' });
  });

  it('NOTIFY=NEVER for every recipient: no bounce at all', async () => {
    const id = await messageWith({ 'a@remote.test': ['bounced', ['NEVER']], 'b@remote.test': ['bounced', ['NEVER']] });
    expect(await relay.app.sendDsn({ messageId: id, reason: 'failed' })).toEqual({ kind: 'suppressed', recipients: 2 });
    expect(await dsnsFor(db, id)).toEqual([]);
  });

  it('delays: warned when NOTIFY is absent or has DELAY; not with NEVER or a NOTIFY without DELAY, and never warned later', async () => {
    const id = await messageWith({
      'absent@remote.test': ['deferred', null],
      'delay@remote.test': ['deferred', ['DELAY']],
      'failure@remote.test': ['deferred', ['FAILURE']],
      'never@remote.test': ['deferred', ['NEVER']],
    });
    expect(await relay.app.sendDsn({ messageId: id, reason: 'delayed' })).toMatchObject({ kind: 'sent', recipients: 2 });
    const dsns = await dsnsFor(db, id);
    expect(dsns).toHaveLength(1);
    expect(dsns[0]!.raw).toContain('Action: delayed');
    expect(dsns[0]!.raw).toContain('absent@remote.test');
    expect(dsns[0]!.raw).toContain('delay@remote.test');
    expect(dsns[0]!.raw).not.toContain('failure@remote.test');
    expect(dsns[0]!.raw).not.toContain('never@remote.test');
    const r = await recipientsOf(db, id);
    // Marked as warned (still deferred): the next deferral does not ask again.
    expect(r['failure@remote.test']).toMatchObject({ status: 'deferred' });
    expect(r['failure@remote.test']!.delay_warned_at).not.toBeNull();
    expect(await relay.app.sendDsn({ messageId: id, reason: 'delayed' })).toEqual({ kind: 'nothing' });
  });
});

describe('RET, ENVID and ORCPT', () => {
  it('RET=HDRS: the bounce carries text/rfc822-headers only; ENVID and ORCPT echoed', async () => {
    const id = await messageWith({ 'gone@remote.test': ['bounced', ['FAILURE'], 'rfc822;Original+Tag@remote.test'] }, { dsnRet: 'HDRS', dsnEnvid: 'QQ+314159' });
    await relay.app.sendDsn({ messageId: id, reason: 'failed' });
    const raw = (await dsnsFor(db, id))[0]!.raw;
    expect(raw).toContain('Content-Type: message/delivery-status\r\n\r\nOriginal-Envelope-Id: QQ+314159\r\nReporting-MTA: dns; ');
    expect(raw).toContain('Final-Recipient: rfc822; gone@remote.test\r\nOriginal-Recipient: rfc822;Original+Tag@remote.test\r\nAction: failed\r\n');
    expect(raw).toContain('Content-Type: text/rfc822-headers');
    expect(raw).not.toContain('message/rfc822');
    expect(raw).not.toContain('Hello.');
  });

  it('RET=FULL: the bounce returns the whole message as message/rfc822', async () => {
    const id = await messageWith({ 'gone@remote.test': ['bounced', null] }, { dsnRet: 'FULL' });
    await relay.app.sendDsn({ messageId: id, reason: 'failed' });
    const raw = (await dsnsFor(db, id))[0]!.raw;
    expect(raw).toMatch(/Content-Type: message\/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\nFrom: alice@local\.test\r\n[^]*\r\n\r\nHello\.\r\n/);
    expect(raw).not.toContain('text/rfc822-headers');
    expect(raw).not.toContain('Original-Envelope-Id');
  });

  it('RET=FULL above RELAY_DSN_RETURN_MAX_BYTES (50,000 by default): only the headers come back, and the text says why', async () => {
    const big = message('big', `${'x'.repeat(98)}\r\n`.repeat(600) + 'The end.\r\n');
    expect(big.length).toBeGreaterThan(relay.config.RELAY_DSN_RETURN_MAX_BYTES);
    const id = await messageWith({ 'gone@remote.test': ['bounced', null] }, { dsnRet: 'FULL' }, big);
    await relay.app.sendDsn({ messageId: id, reason: 'failed' });
    const raw = (await dsnsFor(db, id))[0]!.raw;
    expect(raw).toContain('Content-Type: text/rfc822-headers');
    expect(raw).toContain('Subject: big\r\n');
    expect(raw).not.toContain('message/rfc822');
    expect(raw).not.toContain('The end.');
    expect(raw).not.toContain('x'.repeat(98));
    expect(raw).toContain(`The message (${big.length} bytes) is larger than the 50000 bytes returned in full:\r\nonly its headers are attached below.`);
    expect(raw.length).toBeLessThan(5000);
  });

  it('a delay warning carries the headers only, whatever RET says (RFC 3461 §4.3)', async () => {
    const id = await messageWith({ 'slow@remote.test': ['deferred', null] }, { dsnRet: 'FULL', dsnEnvid: 'E1' });
    await relay.app.sendDsn({ messageId: id, reason: 'delayed' });
    const raw = (await dsnsFor(db, id))[0]!.raw;
    expect(raw).toContain('Content-Type: text/rfc822-headers');
    expect(raw).toContain('Original-Envelope-Id: E1\r\n');
  });
});

describe('NOTIFY=SUCCESS: the success report', () => {
  it('delivered here → Action: delivered; relayed to a hop without DSN → relayed; alias → expanded; 2.0.0 each, once', async () => {
    const addresses = ['local@local.test', 'far@remote.test', 'team@local.test', 'quiet@local.test'];
    const id = await commitMessage(db, addresses, { dsn: { dsnEnvid: 'ENV-7', recipientDsn: [{ notify: ['SUCCESS'], orcpt: 'rfc822;Local@local.test' }, { notify: ['SUCCESS', 'FAILURE'], orcpt: null }, { notify: ['SUCCESS'], orcpt: null }, { notify: null, orcpt: null }] } });
    const set = (address: string, status: string, mx: string | null, reply: string | null) =>
      db.pool.query(`UPDATE recipients SET status = $3, last_mx = $4, last_reply = $5 WHERE message_id = $1 AND address = $2`, [id, address, status, mx, reply]);
    await set('local@local.test', 'delivered', null, null);
    await set('far@remote.test', 'delivered', 'mx.remote.test', '250 2.0.0 Ok: queued');
    await set('team@local.test', 'expanded', null, null);
    await set('quiet@local.test', 'delivered', null, null);
    expect(await relay.app.sendDsn({ messageId: id, reason: 'success' })).toMatchObject({ kind: 'sent', recipients: 3 });
    expect(await relay.app.sendDsn({ messageId: id, reason: 'success' })).toEqual({ kind: 'nothing' });
    const dsns = await dsnsFor(db, id);
    expect(dsns).toHaveLength(1);
    const raw = dsns[0]!.raw;
    expect(raw).toContain('Subject: Successful Mail Delivery Report');
    expect(raw).toContain('Original-Envelope-Id: ENV-7\r\n');
    expect(raw).toContain('Final-Recipient: rfc822; local@local.test\r\nOriginal-Recipient: rfc822;Local@local.test\r\nAction: delivered\r\nStatus: 2.0.0\r\n');
    expect(raw).toContain('Final-Recipient: rfc822; far@remote.test\r\nAction: relayed\r\nStatus: 2.0.0\r\nRemote-MTA: dns; mx.remote.test\r\n');
    expect(raw).toContain('Final-Recipient: rfc822; team@local.test\r\nAction: expanded\r\nStatus: 2.0.0\r\n');
    expect(raw).not.toContain('quiet@local.test');
    expect(raw).toContain('Content-Type: text/rfc822-headers');
  });

  it('a null sender gets no success report either', async () => {
    const id = await commitMessage(db, ['local@local.test'], { from: '', dsn: { recipientDsn: [{ notify: ['SUCCESS'], orcpt: null }] } });
    await db.pool.query(`UPDATE recipients SET status = 'delivered' WHERE message_id = $1`, [id]);
    expect(await relay.app.sendDsn({ messageId: id, reason: 'success' })).toEqual({ kind: 'suppressed', recipients: 1 });
    expect(await dsnsFor(db, id)).toEqual([]);
  });
});
