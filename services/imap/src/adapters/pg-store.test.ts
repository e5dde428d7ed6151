// PgStore against real PostgreSQL: the change reads that IDLE wake-ups share.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import type { Authenticator } from '@hopmail/login';
import { deliver, sampleMessage, seedMailbox } from '../../test/support.ts';
import { PgStore } from './pg-store.ts';

let db: TestDatabase;
let mailboxId: string;
let queries = 0;
let store: PgStore;
const USER = 'sharer@example.org';

beforeAll(async () => {
  db = await createTestDatabase();
  mailboxId = await seedMailbox(db.pool, USER, 'pw');
  // The real pool, counting the statements the store sends.
  const counting = new Proxy(db.pool, {
    get(target, prop, receiver) {
      if (prop === 'query') return (...args: unknown[]) => (queries++, (target.query as (...a: unknown[]) => unknown)(...args));
      return Reflect.get(target, prop, receiver);
    },
  }) as pg.Pool;
  store = new PgStore({ pool: counting, authenticator: {} as Authenticator, searchTimeoutMs: 5_000, chunkBytes: 65_536 });
});
afterAll(async () => {
  await db?.drop();
});

describe('changesSince', () => {
  it('sessions woken by the same notification share one query; a later or another notification reads again', async () => {
    const inbox = (await store.folder(mailboxId, 'INBOX'))!;
    const before = inbox.highestModseq;
    await deliver(db.pool, mailboxId, USER, sampleMessage('shared'));

    queries = 0;
    const woken = await Promise.all(Array.from({ length: 200 }, () => store.changesSince(inbox.id, before, `${mailboxId}:1`)));
    expect(queries).toBe(1);
    for (const ch of woken) expect(ch.changed.map((m) => m.uid)).toEqual([woken[0]!.changed[0]!.uid]);

    // Sessions at another MODSEQ, or woken by the next notification, or reading for a command:
    // their own query each (a finished read is never reused).
    queries = 0;
    await Promise.all([store.changesSince(inbox.id, before, `${mailboxId}:1`), store.changesSince(inbox.id, before, `${mailboxId}:2`), store.changesSince(inbox.id, 0, `${mailboxId}:2`)]);
    expect(queries).toBe(3);
    queries = 0;
    await Promise.all([store.changesSince(inbox.id, before), store.changesSince(inbox.id, before)]);
    expect(queries).toBe(2);
  });
});
