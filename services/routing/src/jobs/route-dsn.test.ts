// NOTIFY=SUCCESS at local delivery (RFC 3461 §6.2): routing commits the delivery, then adds
// send-dsn {reason: 'success'} for the relay's DSN writer; an alias it expands passes the
// request on to its targets without SUCCESS (the alias's own report is "expanded").
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
      { address: 'ext@remote.test', status: 'relay', dsn_notify: null },
    ]);
  });
});
