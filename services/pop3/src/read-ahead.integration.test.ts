// Read-ahead (adapters/pg-maildrop.ts): what RETR and TOP send from memory is what the
// store holds, the budget holds with large messages, and the session's snapshot rules
// still hold when another session or IMAP changes the mailbox under it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, redisPrefix, baseUrls, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { PgMaildropStore, type PgMaildrop } from './adapters/pg-maildrop.ts';
import { deliver, RawClient, seedMailbox, startTestApp, type TestApp } from '../test/support.ts';

let db: TestDatabase;
let a: TestApp;

beforeAll(async () => {
  db = await createTestDatabase();
  a = await startTestApp({
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: redisPrefix(),
    AUTH_FAILURE_DELAY_MS: '0',
    ALLOW_PLAINTEXT_AUTH: 'true',
    // Small, so that a few messages span several batches and some exceed a chunk.
    RETR_CHUNK_BYTES: '1024',
    RETR_READ_AHEAD_BYTES: '4096',
  });
});

afterAll(async () => {
  await a?.stop();
  await db?.drop();
});

let n = 0;
async function mailbox(messages: Buffer[]): Promise<{ id: string; address: string; ids: string[] }> {
  const address = `reader${++n}@example.org`;
  const id = await seedMailbox(db.pool, address, 'pw');
  const ids: string[] = [];
  for (const m of messages) ids.push(await deliver(db.pool, id, address, m));
  return { id, address, ids };
}

async function login(address: string): Promise<RawClient> {
  const c = await RawClient.connect(a.app.port);
  expect(await c.login(address, 'pw')).toMatch(/^\+OK /);
  return c;
}

/** Message i: `size` octets of CRLF lines, some starting with '.', a header first. */
function message(i: number, size: number): Buffer {
  const head = `Subject: message ${i}\r\n\r\n`;
  let body = '';
  for (let l = 0; head.length + body.length < size; l++) body += (l % 3 === 0 ? '.' : '') + `line ${l} of ${i}`.padEnd(40, '-') + '\r\n';
  // Cut to size, never leaving a bare CR (which RETR would send as CRLF).
  return Buffer.from((head + body).slice(0, size - 2).replace(/\r$/, '-') + '\r\n');
}

// Sizes around the chunk (1024) and the half budget (2048): whole, first chunk only, and a
// message bigger than the whole budget.
const SIZES = [300, 1_000, 1_024, 1_025, 700, 5_000, 200, 2_048, 2_049, 150, 9_000, 400, 800, 100];

describe('read-ahead', () => {
  it('pipelined RETRs over many batches are byte for byte, large messages included', async () => {
    const msgs = SIZES.map((s, i) => message(i, s));
    const box = await mailbox(msgs);
    const c = await login(box.address);
    c.send(msgs.map((_, i) => `RETR ${i + 1}\r\n`).join(''));
    for (let i = 0; i < msgs.length; i++) {
      expect(await c.line()).toBe(`+OK ${msgs[i]!.length} octets`);
      expect((await c.body()).equals(msgs[i]!), `message ${i + 1}`).toBe(true);
    }
    // Out of order, backwards: each one starts the read-ahead over.
    for (let i = msgs.length; i >= 1; i -= 3) {
      expect(await c.cmd(`RETR ${i}`)).toBe(`+OK ${msgs[i - 1]!.length} octets`);
      expect((await c.body()).equals(msgs[i - 1]!)).toBe(true);
    }
    expect(await c.cmd('QUIT')).toMatch(/^\+OK /);
    await c.closed();
  });

  it('TOP then RETR of a message read ahead, and TOP of one larger than a chunk', async () => {
    const msgs = [message(0, 600), message(1, 800), message(2, 3_000)];
    const box = await mailbox(msgs);
    const c = await login(box.address);
    expect(await c.cmd('RETR 1')).toMatch(/^\+OK /);
    await c.body(); // message 2 (and 3's first chunk) now read ahead
    expect(await c.cmd('TOP 2 0')).toBe('+OK top of message follows');
    expect((await c.body()).toString()).toBe('Subject: message 1\r\n\r\n');
    expect(await c.cmd('TOP 2 2')).toBe('+OK top of message follows');
    expect((await c.body()).toString()).toBe(msgs[1]!.toString().split('\r\n').slice(0, 4).join('\r\n') + '\r\n');
    expect(await c.cmd('RETR 2')).toBe(`+OK 800 octets`);
    expect((await c.body()).equals(msgs[1]!)).toBe(true);
    expect(await c.cmd('TOP 3 1000')).toBe('+OK top of message follows');
    expect((await c.body()).equals(msgs[2]!)).toBe(true);
    expect(await c.cmd('RETR 3')).toBe(`+OK 3000 octets`);
    expect((await c.body()).equals(msgs[2]!)).toBe(true);
    expect(await c.cmd('QUIT')).toMatch(/^\+OK /);
  });

  it('a message IMAP expunged after it was read ahead is still sent; DELE of it and of others commits', async () => {
    const msgs = [message(0, 500), message(1, 500), message(2, 500), message(3, 500)];
    const box = await mailbox(msgs);
    const c = await login(box.address);
    expect(await c.cmd('RETR 1')).toMatch(/^\+OK /);
    await c.body();
    // IMAP EXPUNGE (or any other writer) removes the INBOX row of message 3 meanwhile.
    await db.pool.query('DELETE FROM mailbox_messages WHERE mailbox_id = $1 AND message_id = $2', [box.id, box.ids[2]]);
    expect(await c.cmd('RETR 3')).toBe('+OK 500 octets');
    expect((await c.body()).equals(msgs[2]!)).toBe(true);
    expect(await c.cmd('DELE 3')).toBe('+OK message 3 deleted');
    expect(await c.cmd('DELE 1')).toBe('+OK message 1 deleted');
    expect(await c.cmd('UIDL 3')).toBe('-ERR message 3 already deleted');
    expect(await c.cmd('UIDL 4')).toBe(`+OK 4 ${box.ids[3]}`);
    expect(await c.cmd('QUIT')).toBe('+OK Hopmail POP3 server signing off (2 messages left)');
    await c.closed();
    const left = await db.pool.query<{ message_id: string }>('SELECT message_id::text FROM mailbox_messages WHERE mailbox_id = $1 ORDER BY id', [box.id]);
    expect(left.rows.map((r) => r.message_id)).toEqual([box.ids[1], box.ids[3]]);
  });

  it('a message deleted outright before it is read: -ERR [SYS/TEMP] and the session goes on; one read ahead is sent', async () => {
    const msgs = Array.from({ length: 7 }, (_, i) => message(i, 900));
    const box = await mailbox(msgs);
    const del = (...n: number[]) => db.pool.query('DELETE FROM messages WHERE id = ANY($1::uuid[])', [n.map((k) => box.ids[k - 1])]);
    const c = await login(box.address);
    const retr = async (n: number) => {
      expect(await c.cmd(`RETR ${n}`)).toBe('+OK 900 octets');
      expect((await c.body()).equals(msgs[n - 1]!), `message ${n}`).toBe(true);
    };
    await retr(1); // message 1 alone
    await del(4); // retention (or an admin) deletes message 4 altogether, before it is read ahead
    await retr(2); // in order: 2-3, then 4-5 (two to a 2048-octet batch; 4's row is gone)
    await readAheadDone();
    await del(3, 7); // 3 was read ahead, 7 was not
    await retr(3);
    expect(await c.cmd('RETR 4')).toBe('-ERR [SYS/TEMP] cannot read message now');
    await retr(5); // after a gone message in the same batch
    expect(await c.cmd('RETR 7')).toBe('-ERR [SYS/TEMP] cannot read message now');
    await retr(6);
    expect(await c.cmd('QUIT')).toMatch(/^\+OK /);
  });
});

/** Every maildrop connection has answered all it was asked (the read-ahead queries are back). */
async function readAheadDone(): Promise<void> {
  await waitFor(async () => {
    const r = await db.pool.query<{ busy: number }>(
      "SELECT count(*)::int AS busy FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'hopmail-pop3-maildrop' AND state <> 'idle'",
    );
    return r.rows[0]!.busy === 0;
  });
}

describe('the read-ahead budget', () => {
  async function open(mailboxId: string, readAheadBytes: number): Promise<PgMaildrop> {
    const store = new PgMaildropStore({ databaseUrl: db.url, chunkBytes: 1_024, readAheadBytes });
    const opened = await store.open(mailboxId);
    if (!opened.ok) throw new Error(opened.reason);
    return opened.drop;
  }
  const readAll = async (drop: PgMaildrop, i: number) => {
    const parts: Buffer[] = [];
    for await (const chunk of drop.read(i)) parts.push(chunk);
    return Buffer.concat(parts);
  };

  it('never holds more than RETR_READ_AHEAD_BYTES (plus a chunk) whatever the sizes, and hands out only whole messages', async () => {
    const msgs = SIZES.map((s, i) => message(i, s));
    const box = await mailbox(msgs);
    const drop = await open(box.id, 4_096);
    try {
      let peak = 0;
      for (let i = 0; i < msgs.length; i++) {
        const ahead = drop.aheadBytes;
        const peeked = drop.peek(i);
        expect(drop.aheadBytes).toBe(ahead); // peek() moves nothing
        const now = drop.readNow(i);
        if (peeked) expect(now).toBe(peeked);
        expect(drop.peek(i)).toBe(now);
        peak = Math.max(peak, drop.aheadBytes);
        expect(drop.aheadBytes).toBeLessThanOrEqual(4_096 + 1_024);
        if (now) expect(now.equals(msgs[i]!)).toBe(true);
        if (msgs[i]!.length > 1_024) expect(now).toBeUndefined();
        expect((await readAll(drop, i)).equals(msgs[i]!), `message ${i + 1}`).toBe(true);
      }
      expect(peak).toBeGreaterThan(2_048); // two batches were in play
      // Small messages read ahead are answered from memory.
      const last = drop.readNow(msgs.length - 1);
      expect(last !== undefined && last.equals(msgs.at(-1)!)).toBe(true);
    } finally {
      await drop.release();
    }
  });

  it('a client that jumps about (newest first) reads one message per jump, nothing ahead', async () => {
    const msgs = SIZES.map((s, i) => message(i, s));
    const box = await mailbox(msgs);
    const drop = await open(box.id, 4_096);
    try {
      for (let i = msgs.length - 1; i >= 0; i -= 2) {
        expect((await readAll(drop, i)).equals(msgs[i]!)).toBe(true);
        expect(drop.aheadBytes).toBe(Math.min(msgs[i]!.length, 1_024));
      }
      // Reading in order again: the batches come back, asked for at the end of the turn (after
      // the reply to this command, whose write should not wait for the next batch's query).
      expect((await readAll(drop, 1)).equals(msgs[1]!)).toBe(true);
      expect(drop.aheadBytes).toBe(1_000);
      await new Promise((r) => setImmediate(r));
      expect(drop.aheadBytes).toBeGreaterThan(1_024);
    } finally {
      await drop.release();
    }
  });

  it('0 reads one message at a time, nothing ahead', async () => {
    const msgs = [message(0, 300), message(1, 300), message(2, 300)];
    const box = await mailbox(msgs);
    const drop = await open(box.id, 0);
    try {
      for (let i = 0; i < msgs.length; i++) {
        expect((await readAll(drop, i)).equals(msgs[i]!)).toBe(true);
        expect(drop.aheadBytes).toBe(300);
      }
    } finally {
      await drop.release();
    }
  });
});
