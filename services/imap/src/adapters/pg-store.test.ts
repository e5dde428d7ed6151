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

describe('flag changes as HOT updates, found again through imap_flag_changes (migration 0033)', () => {
  const OWNER = 'hot@example.org';
  let box: string;
  let folder: string;
  let uids: number[];
  const metaOf = async (since: number) => (await store.changesSince(folder, since)).changed.map((m) => [m.uid, m.modseq, m.flags.join(' ')]);
  const full = async (since: number) =>
    (
      await db.pool.query<{ uid: string; modseq: string; flags: string[] }>(
        'SELECT uid, greatest(modseq, flags_modseq) AS modseq, flags FROM mailbox_messages WHERE folder_id = $1 AND greatest(modseq, flags_modseq) > $2 ORDER BY uid',
        [folder, since],
      )
    ).rows.map((r) => [Number(r.uid), Number(r.modseq), r.flags.join(' ')]);

  beforeAll(async () => {
    box = await seedMailbox(db.pool, OWNER, 'pw');
    for (let i = 0; i < 12; i++) await deliver(db.pool, box, OWNER, sampleMessage(`hot ${i}`));
    folder = (await store.folder(box, 'INBOX'))!.id;
    uids = await store.uids(folder);
  });

  it('changesSince gives the messages filed since and those whose flags changed since, each at its MODSEQ, from every point on', async () => {
    const start = (await store.folder(box, 'INBOX'))!.highestModseq;
    const points = [0, start];
    await store.fetchBatch(folder, uids.slice(0, 4), { seen: true, maxBytes: 0 });
    points.push((await store.folder(box, 'INBOX'))!.highestModseq);
    await store.storeFlags(folder, [uids[2]!, uids[9]!], 'add', ['\\Flagged'], null);
    points.push((await store.folder(box, 'INBOX'))!.highestModseq);
    await deliver(db.pool, box, OWNER, sampleMessage('hot new'));
    await store.storeFlags(folder, [uids[2]!], 'remove', ['\\Seen'], null);
    points.push((await store.folder(box, 'INBOX'))!.highestModseq);
    const now = points.at(-1)!;
    for (const since of [...points, now - 1, now - 2]) expect(await metaOf(since), `since ${since}`).toEqual(await full(since));
    // Message 3: \Seen at one MODSEQ, \Flagged at the next, \Seen taken away at the last.
    expect((await metaOf(start)).find(([uid]) => uid === uids[2])).toEqual([uids[2], now, '\\Flagged']);
    // One row per statement that changed something: the FETCH's, two STOREs'.
    const log = await db.pool.query<{ uids: string[] }>('SELECT uids FROM imap_flag_changes WHERE folder_id = $1 ORDER BY modseq', [folder]);
    expect(log.rows.map((r) => r.uids.map(Number))).toEqual([uids.slice(0, 4), [uids[2], uids[9]], [uids[2]]]);
    // UNCHANGEDSINCE and SEARCH MODSEQ see the same MODSEQ.
    expect((await store.storeFlags(folder, [uids[2]!], 'add', ['x'], now - 1)).failed).toEqual([uids[2]]);
  });

  it('prunes the log every 256 MODSEQs to 10,000 behind, and a changesSince from before that reads the whole folder', async () => {
    const early = (await store.folder(box, 'INBOX'))!.highestModseq;
    await store.storeFlags(folder, [uids[5]!], 'add', ['$early'], null);
    // Jump to just before a MODSEQ that is a multiple of 256, far ahead.
    await db.pool.query('UPDATE imap_folders SET highest_modseq = 20479 WHERE id = $1', [folder]);
    await store.storeFlags(folder, [uids[6]!], 'add', ['$late'], null);
    const f = await db.pool.query<{ highest_modseq: string; flag_log_floor: string }>('SELECT highest_modseq, flag_log_floor FROM imap_folders WHERE id = $1', [folder]);
    expect([Number(f.rows[0]!.highest_modseq), Number(f.rows[0]!.flag_log_floor)]).toEqual([20480, 20480 - 10_000]);
    const log = await db.pool.query<{ modseq: string }>('SELECT modseq FROM imap_flag_changes WHERE folder_id = $1', [folder]);
    expect(log.rows.map((r) => Number(r.modseq))).toEqual([20480]); // the older rows are gone
    // From before the floor: the whole folder is read, nothing is missed.
    for (const since of [0, early, 10_479, 10_480, 20_000]) expect(await metaOf(since), `since ${since}`).toEqual(await full(since));
    expect((await metaOf(early)).map(([uid]) => uid)).toEqual(expect.arrayContaining([uids[5], uids[6]]));
  });

  it('setting \\Seen and STORE write no indexed column of mailbox_messages: HOT updates', async () => {
    // The columns a flag change writes are in no index, and the table leaves room on its pages.
    const indexed = await db.pool.query<{ attname: string }>(
      `SELECT DISTINCT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'mailbox_messages'::regclass`,
    );
    expect(indexed.rows.map((r) => r.attname)).not.toContain('flags');
    expect(indexed.rows.map((r) => r.attname)).not.toContain('flags_modseq');
    const options = await db.pool.query<{ o: string[] }>("SELECT reloptions AS o FROM pg_class WHERE oid = 'mailbox_messages'::regclass");
    expect(options.rows[0]!.o).toContain('fillfactor=70'); // migration 0034
    // And PostgreSQL counts them as HOT: one connection, its statistics flushed before reading.
    const client = await db.pool.connect();
    try {
      const one = { query: client.query.bind(client), connect: async () => client } as unknown as pg.Pool;
      const solo = new PgStore({ pool: one, authenticator: {} as Authenticator, searchTimeoutMs: 5_000, chunkBytes: 65_536 });
      const stats = async () => {
        await client.query('SELECT pg_stat_force_next_flush()');
        await client.query('SELECT 1');
        const r = await db.pool.query<{ upd: string; hot: string }>(
          "SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE relid = 'mailbox_messages'::regclass",
        );
        return { upd: Number(r.rows[0]!.upd), hot: Number(r.rows[0]!.hot) };
      };
      await solo.storeFlags(folder, uids, 'remove', ['\\Seen'], null);
      // Room on the pages again (what autovacuum and page pruning keep up in use), then a
      // FETCH that sets \Seen on three messages and a STORE on two.
      await db.pool.query('VACUUM mailbox_messages');
      const before = await stats();
      await solo.fetchBatch(folder, uids.slice(0, 3), { seen: true, maxBytes: 0 });
      await db.pool.query('VACUUM mailbox_messages');
      await solo.storeFlags(folder, uids.slice(3, 5), 'add', ['\\Answered'], null);
      let after = await stats();
      for (let i = 0; i < 50 && after.upd - before.upd < 5; i++) {
        await new Promise((r) => setTimeout(r, 20));
        after = await stats();
      }
      expect(after.upd - before.upd).toBe(5);
      expect(after.hot - before.hot).toBe(5);
    } finally {
      client.release();
    }
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
      'SELECT uid, flags, added_at, greatest(modseq, flags_modseq) AS modseq, size, message_id::text AS message_id FROM mailbox_messages WHERE folder_id = $1 ORDER BY uid',
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
    const stored = await db.pool.query<{ flags: string[]; modseq: number }>('SELECT flags, greatest(modseq, flags_modseq)::int AS modseq FROM mailbox_messages WHERE folder_id = $1 AND uid = $2', [folderId, uids[1]]);
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
