// DSN across the relay (RFC 3461 §5.2, §6.2.6): to a next hop that advertises DSN, NOTIFY,
// ORCPT, RET and ENVID go on unchanged (per recipient) and the success report is its duty;
// to a hop without DSN, NOTIFY=SUCCESS gets a "relayed" report from us. Real sockets: the
// relay's workers deliver to fake MX servers found through a fake DNS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '@hopmail/queue';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, startFakeDns, startFakeMx, waitFor, type FakeDns, type FakeMx, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { commitMessage, dsnsFor, type CommitOptions } from '../test/mail.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

const MX_DSN = '127.0.0.31';
const MX_PLAIN = '127.0.0.32';
let db: TestDatabase;
let redis: Redis;
let mx: FakeMx;
let dns: FakeDns;
let relay: TestRelay;
let relayJobs: Producer<'deliver-remote'>;

beforeAll(async () => {
  db = await createTestDatabase();
  const prefix = redisPrefix();
  redis = queueRedis(baseUrls().redisUrl);
  mx = await startFakeMx([MX_DSN, MX_PLAIN], { dsn: [MX_DSN] });
  const mxRec = (name: string, exchange: string) => ({ name, type: 'MX' as const, data: { preference: 10, exchange } });
  dns = await startFakeDns({
    host: '127.0.0.58',
    records: [
      { name: 'test', type: 'SOA', data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 } },
      { name: 'mx-dsn.test', type: 'A', data: MX_DSN },
      { name: 'mx-plain.test', type: 'A', data: MX_PLAIN },
      mxRec('dsn.test', 'mx-dsn.test'),
      mxRec('plain.test', 'mx-plain.test'),
    ],
  });
  relay = await startRelay({ db, prefix, redis, mx, dns, env: { DNS_TIMEOUT_MS: '500', DNS_TRIES: '1', RELAY_ALLOW_LOOPBACK_MX: 'true', RELAY_SCHEDULER_INTERVAL_MS: '50' } });
  relayJobs = createProducer('deliver-remote', redis, prefix);
});

afterAll(async () => {
  await relay?.stop();
  await relayJobs?.close();
  await mx?.stop();
  await dns?.stop();
  await redis?.quit();
  await db?.drop();
});

async function submit(rcpts: string[], dsn: CommitOptions['dsn']): Promise<string> {
  const id = await commitMessage(db, rcpts, { dsn });
  await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
  await relayJobs.add({ messageId: id, domain: rcpts[0]!.split('@')[1]! });
  return id;
}

const delivered = (id: string) =>
  waitFor(async () => { const r = await db.pool.query(`SELECT status, last_reply FROM recipients WHERE message_id = $1 AND status <> 'delivered'`, [id]); return r.rowCount === 0 ? true : undefined; }, { timeoutMs: 10_000, what: 'delivery' });

describe('DSN at the next hop', () => {
  it('a hop that advertises DSN gets RET, ENVID, NOTIFY and ORCPT unchanged, per recipient; no report from us', async () => {
    const id = await submit(['a@dsn.test', 'b@dsn.test', 'c@dsn.test'], {
      dsnRet: 'HDRS',
      dsnEnvid: 'env+id=1',
      recipientDsn: [{ notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;Orig+A@example.org' }, { notify: ['NEVER'], orcpt: null }, null],
    });
    await delivered(id);
    const tx = mx.transactions.find((t) => t.data.toString().includes(id))!;
    expect(tx.ip).toBe(MX_DSN);
    expect(tx.params).toMatchObject({ RET: 'HDRS', ENVID: 'env+id=1' });
    expect(tx.rcptParams).toEqual([{ NOTIFY: 'SUCCESS,FAILURE', ORCPT: 'rfc822;Orig+A@example.org' }, { NOTIFY: 'NEVER' }, {}]);
    const r = await db.pool.query(`SELECT address, dsn_success_at IS NOT NULL AS passed FROM recipients WHERE message_id = $1 ORDER BY id`, [id]);
    expect(r.rows).toEqual([{ address: 'a@dsn.test', passed: true }, { address: 'b@dsn.test', passed: false }, { address: 'c@dsn.test', passed: false }]);
    // The trace says so, on the delivery of the one whose report the next hop now owes.
    const ev = await db.pool.query(`SELECT recipient, data->>'dsnSuccess' AS passed FROM message_events WHERE message_id = $1 AND type = 'delivered' ORDER BY recipient`, [id]);
    expect(ev.rows).toEqual([{ recipient: 'a@dsn.test', passed: 'passed-on' }, { recipient: 'b@dsn.test', passed: null }, { recipient: 'c@dsn.test', passed: null }]);
    expect(await relay.app.sendDsn({ messageId: id, reason: 'success' })).toEqual({ kind: 'nothing' });
    expect(await dsnsFor(db, id)).toEqual([]);
  });

  it('a hop without DSN gets none of them, and NOTIFY=SUCCESS gets a "relayed" report from us', async () => {
    const id = await submit(['a@plain.test', 'b@plain.test'], { dsnEnvid: 'E-2', recipientDsn: [{ notify: ['SUCCESS'], orcpt: 'rfc822;a@plain.test' }, { notify: ['FAILURE'], orcpt: null }] });
    await delivered(id);
    const tx = mx.transactions.find((t) => t.data.toString().includes(id))!;
    expect(tx.ip).toBe(MX_PLAIN);
    expect(tx.params).not.toHaveProperty('ENVID');
    expect(tx.rcptParams).toEqual([{}, {}]);
    const dsns = await waitFor(async () => ((await dsnsFor(db, id)).length === 1 ? dsnsFor(db, id) : undefined), { timeoutMs: 10_000, what: 'the relayed DSN' });
    expect(dsns[0]!.to).toBe('alice@local.test');
    expect(dsns[0]!.raw).toContain('Original-Envelope-Id: E-2\r\n');
    expect(dsns[0]!.raw).toContain('Final-Recipient: rfc822; a@plain.test\r\nOriginal-Recipient: rfc822;a@plain.test\r\nAction: relayed\r\nStatus: 2.0.0\r\nRemote-MTA: dns; mx-plain.test\r\n');
    expect(dsns[0]!.raw).not.toContain('b@plain.test');
  });
});
