// NOTIFY=SUCCESS at local delivery (RFC 3461 §6.2): routing commits the delivery, then adds
// send-dsn {reason: 'success'} for the relay's DSN writer. An alias to several addresses is
// expanded (§6.2.7.3): its own report is "expanded", its targets get NOTIFY without SUCCESS
// (NEVER when nothing is left); an alias to exactly one address (§6.2.7.2) passes NOTIFY and
// ORCPT on unchanged and reports nothing itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { createProducer, jobIdFor } from '@hopmail/queue';
import { baseUrls, createTestDatabase, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import type { RoutingApp } from '../app.ts';
import { addAlias, addDomain, addMailbox, buildApp, redisFor } from '../../test/fixtures.ts';

let db: TestDatabase;
let redis: Redis;
let prefix: string;
let app: RoutingApp;

beforeAll(async () => {
  db = await createTestDatabase();
  redis = redisFor(baseUrls().redisUrl);
  prefix = redisPrefix();
  app = buildApp(db.pool, redis, { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: prefix });
  await addDomain(db.pool, 'example.org');
  for (const a of ['alice@example.org', 'bob@example.org']) await addMailbox(db.pool, a);
  await addAlias(db.pool, 'team@example.org', ['alice@example.org', 'ext@remote.test']);
  await addAlias(db.pool, 'pair@example.org', ['alice@example.org', 'bob@example.org']);
  await addAlias(db.pool, 'fwd@example.org', ['far@remote.test']);
  await addAlias(db.pool, 'list@example.org', ['one@remote.test', 'two@remote.test']);
});

afterAll(async () => {
  await app?.stop();
  await redis?.quit();
  await db?.drop();
});

async function message(recipients: string[], notify: (string[] | null)[], orcpt: (string | null)[] = []): Promise<string> {
  const id = newMessageId();
  await insertMessage(db.pool, { id, raw: Buffer.from('Subject: t\r\n\r\nhi\r\n'), mailFrom: 's@sender.test', recipients, recipientDsn: notify.map((n, i) => ({ notify: n, orcpt: orcpt[i] ?? null })) });
  return id;
}

async function successJob(messageId: string) {
  const q = createProducer('send-dsn', redis, prefix);
  try {
    return await q.queue.getJob(jobIdFor('send-dsn', { messageId, reason: 'success' }));
  } finally {
    await q.close();
  }
}

describe('NOTIFY=SUCCESS in routing', () => {
  it('a local delivery that asked for SUCCESS owes a success DSN: the job is added', async () => {
    const id = await message(['alice@example.org', 'bob@example.org'], [['SUCCESS', 'FAILURE'], null]);
    await app.route(id);
    expect(await successJob(id)).toBeDefined();
  });

  it.each([[null], [['FAILURE']], [['NEVER']], [['DELAY']]])('NOTIFY %j: no success job', async (notify) => {
    const id = await message(['alice@example.org'], [notify]);
    await app.route(id);
    expect(await successJob(id)).toBeUndefined();
  });

  it('an expanded alias owes its own success report; its remote target gets neither SUCCESS nor its own report', async () => {
    const id = await message(['team@example.org'], [['SUCCESS']], ['rfc822;team@example.org']);
    await app.route(id);
    expect(await successJob(id)).toBeDefined();
    const r = await db.pool.query('SELECT address, status, dsn_notify FROM recipients WHERE message_id = $1 ORDER BY id', [id]);
    expect(r.rows).toEqual([
      { address: 'team@example.org', status: 'expanded', dsn_notify: ['SUCCESS'] },
      { address: 'ext@remote.test', status: 'relay', dsn_notify: ['NEVER'] },
    ]);
  });

  it('an alias to two mailboxes is expanded too: its success report says so', async () => {
    const id = await message(['pair@example.org'], [['SUCCESS']]);
    await app.route(id);
    expect(await successJob(id)).toBeDefined();
    const r = await db.pool.query('SELECT address, status, dsn_success_at FROM recipients WHERE message_id = $1 ORDER BY id', [id]);
    expect(r.rows).toEqual([{ address: 'pair@example.org', status: 'expanded', dsn_success_at: null }]);
  });

  it('targets of an alias to several addresses keep NOTIFY without SUCCESS; the ORCPT stays the alias\'s', async () => {
    const id = await message(['list@example.org'], [['SUCCESS', 'FAILURE', 'DELAY']], ['rfc822;List@example.org']);
    await app.route(id);
    const r = await db.pool.query('SELECT address, status, dsn_notify, dsn_orcpt FROM recipients WHERE message_id = $1 ORDER BY id', [id]);
    expect(r.rows).toEqual([
      { address: 'list@example.org', status: 'expanded', dsn_notify: ['SUCCESS', 'FAILURE', 'DELAY'], dsn_orcpt: 'rfc822;List@example.org' },
      { address: 'one@remote.test', status: 'relay', dsn_notify: ['FAILURE', 'DELAY'], dsn_orcpt: null },
      { address: 'two@remote.test', status: 'relay', dsn_notify: ['FAILURE', 'DELAY'], dsn_orcpt: null },
    ]);
  });

  it('an alias to exactly one remote address passes NOTIFY on unchanged and owes no report itself', async () => {
    const id = await message(['fwd@example.org'], [['SUCCESS', 'FAILURE']], ['rfc822;Fwd@example.org']);
    await app.route(id);
    expect(await successJob(id)).toBeUndefined();
    const r = await db.pool.query('SELECT address, status, dsn_notify, dsn_success_at IS NOT NULL AS passed_on FROM recipients WHERE message_id = $1 ORDER BY id', [id]);
    expect(r.rows).toEqual([
      { address: 'fwd@example.org', status: 'expanded', dsn_notify: ['SUCCESS', 'FAILURE'], passed_on: true },
      { address: 'far@remote.test', status: 'relay', dsn_notify: ['SUCCESS', 'FAILURE'], passed_on: false },
    ]);
  });
});
