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

describe('FETCH reads', () => {
  const FETCHER = 'fetcher@example.org';
  // Awkward bytes: every octet value, NUL and bare CR/LF, 8-bit text, lengths around base64's
  // 3-byte groups and encode()'s 76-column lines, and the largest message a batch takes.
  const every = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
  const messages = [
    Buffer.concat([Buffer.from('Subject: all octets\r\n\r\n'), every]),
    Buffer.from('Subject: x\r\n\r\n\0\r\r\n\n'),
    Buffer.from('Subject: caf\u00e9 \u2603\r\n\r\n\u00fcml\u00e4ut\r\n', 'utf8'),
    Buffer.from('Subject: 1\r\n\r\nA'),
    Buffer.from('Subject: 2\r\n\r\nAB'),
    Buffer.from('Subject: 3\r\n\r\nABC'),
    Buffer.alloc(57 * 2, 'Z'),
    Buffer.concat([Buffer.from('Subject: max\r\n\r\n'), Buffer.alloc(4096 - 16, 0xff)]),
    Buffer.concat([Buffer.from('Subject: max+1\r\n\r\n'), Buffer.alloc(4096 - 18 + 1, 0x80)]),
  ];
  let folderId: string;
  let uids: number[];

  beforeAll(async () => {
    const box = await seedMailbox(db.pool, FETCHER, 'pw');
    for (const m of messages) await deliver(db.pool, box, FETCHER, m);
    folderId = (await store.folder(box, 'INBOX'))!.id;
    uids = await store.uids(folderId);
    expect(uids).toHaveLength(messages.length);
  });

  it('fetchBatch: the stored bytes exactly, in UID order, in one round trip; null for larger ones, absent UIDs left out', async () => {
    expect(messages[7]!.length).toBe(4096);
    expect(messages[8]!.length).toBe(4097);
    queries = 0;
    const { modseq, rows } = await store.fetchBatch(folderId, [...uids, 999_999], { seen: false, maxBytes: 4096 });
    expect(queries).toBe(1);
    expect(modseq).toBe(0);
    expect(rows.map((r) => r.meta.uid)).toEqual(uids);
    rows.forEach((r, k) => {
      if (k === 8) expect(r.raw).toBeNull();
      else expect(Buffer.compare(r.raw!, messages[k]!)).toBe(0);
    });
    // Every body a Buffer (PostgreSQL's binary format), a NUL and 8-bit octets included.
    expect(rows.map((r) => (r.raw === null ? null : Buffer.isBuffer(r.raw)))).toEqual([true, true, true, true, true, true, true, true, null]);
    // Metadata only: no body read.
    const bare = await store.fetchBatch(folderId, uids.slice(0, 2), { seen: false, maxBytes: 0 });
    expect(bare.rows.map((r) => r.raw)).toEqual([null, null]);
    expect(await store.fetchBatch(folderId, [], { seen: false, maxBytes: 4096 })).toEqual({ modseq: 0, rows: [] });
    expect((await store.fetchBatch(folderId, [999_999], { seen: true, maxBytes: 4096 })).rows).toEqual([]);
  });

  it('fetchBatch: metadata as stored (flags, INTERNALDATE, MODSEQ, size), whatever order the UIDs are asked in', async () => {
    await store.storeFlags(folderId, [uids[1]!], 'add', ['\\Flagged', '$Label1', 'Work'], null);
    const db0 = await db.pool.query<{ uid: string; flags: string[]; added_at: Date; modseq: string; size: number; message_id: string }>(
      'SELECT uid, flags, added_at, modseq, size, message_id::text AS message_id FROM mailbox_messages WHERE folder_id = $1 ORDER BY uid',
      [folderId],
    );
    const { rows } = await store.fetchBatch(folderId, [999_999, ...[...uids].reverse()], { seen: false, maxBytes: 0 });
    expect(rows.map((r) => r.meta)).toEqual(
      db0.rows.map((r) => ({ uid: Number(r.uid), flags: r.flags, modseq: Number(r.modseq), size: r.size, internalDate: r.added_at, messageId: r.message_id })),
    );
    expect(rows[0]!.meta.flags).toEqual([]);
    expect(rows[1]!.meta.flags).toEqual(['$Label1', 'Work', '\\Flagged']);
  });

  it('fetchBatch with seen: sets \\Seen as +FLAGS would, at one new MODSEQ, then reads the batch with the flags after it; 0 when nothing changed', async () => {
    const boxId = (await db.pool.query<{ mailbox_id: string }>('SELECT mailbox_id::text AS mailbox_id FROM imap_folders WHERE id = $1', [folderId])).rows[0]!.mailbox_id;
    const before = (await store.folder(boxId, 'INBOX'))!;
    queries = 0;
    const { modseq, rows } = await store.fetchBatch(folderId, uids.slice(0, 3), { seen: true, maxBytes: 4096 });
    // \Seen set first, then the plain read that streams (a statement that changes data would
    // hold its whole result, the bodies too, before sending a row).
    expect(queries).toBe(2);
    expect(modseq).toBe(before.highestModseq + 1);
    expect(rows.map((r) => r.meta.modseq)).toEqual([modseq, modseq, modseq]);
    expect(rows[1]!.meta.flags).toEqual(['$Label1', 'Work', '\\Flagged', '\\Seen']);
    expect(rows[0]!.meta.flags).toEqual(['\\Seen']);
    expect(Buffer.compare(rows[2]!.raw!, messages[2]!)).toBe(0);
    const stored = await db.pool.query<{ flags: string[]; modseq: number }>('SELECT flags, modseq::int AS modseq FROM mailbox_messages WHERE folder_id = $1 AND uid = $2', [folderId, uids[1]]);
    expect(stored.rows[0]).toEqual({ flags: ['$Label1', 'Work', '\\Flagged', '\\Seen'], modseq });
    expect((await store.folder(boxId, 'INBOX'))!.highestModseq).toBe(modseq);
    // Already seen, and one of them newly: only the new one moves, at the next MODSEQ.
    const again = await store.fetchBatch(folderId, uids.slice(0, 4), { seen: true, maxBytes: 0 });
    expect(again.modseq).toBe(modseq + 1);
    expect(again.rows.map((r) => r.meta.modseq)).toEqual([modseq, modseq, modseq, modseq + 1]);
    expect((await store.fetchBatch(folderId, uids.slice(0, 4), { seen: true, maxBytes: 0 })).modseq).toBe(0);
  });

  it('a flag change (FETCH setting \\Seen, STORE) notifies hopmail_imap once with the mailbox id; one that changes nothing does not (migration 0032)', async () => {
    const box = (await db.pool.query<{ mailbox_id: string }>('SELECT mailbox_id::text AS mailbox_id FROM imap_folders WHERE id = $1', [folderId])).rows[0]!.mailbox_id;
    const listener = await db.pool.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => {
      if (n.channel === 'hopmail_imap') heard.push(n.payload ?? '');
    });
    try {
      await listener.query('LISTEN hopmail_imap');
      // A notification is delivered at commit; a round trip on the listening connection after
      // it has been sent lets it arrive.
      const settle = async () => {
        await listener.query('SELECT 1');
        return heard.splice(0);
      };
      await store.storeFlags(folderId, uids.slice(5, 8), 'remove', ['\\Seen'], null);
      await settle();
      await store.fetchBatch(folderId, uids.slice(5, 8), { seen: true, maxBytes: 0 });
      expect(await settle()).toEqual([box]);
      await store.fetchBatch(folderId, uids.slice(5, 8), { seen: true, maxBytes: 0 });
      await store.storeFlags(folderId, uids.slice(5, 8), 'add', ['\\Seen'], null);
      expect(await settle()).toEqual([]);
      await store.storeFlags(folderId, uids.slice(5, 8), 'add', ['\\Flagged'], null);
      expect(await settle()).toEqual([box]);
    } finally {
      await listener.query('UNLISTEN *');
      listener.release();
    }
  });
});
