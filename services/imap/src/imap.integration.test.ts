// Transcript tests against the real service: PostgreSQL, Redis, sockets, raw IMAP lines.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseUrls, createTestDatabase, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { RawImap, deliver, sampleMessage, seedMailbox, startTestApp, writeCertificate, type TestApp } from '../test/support.ts';

let db: TestDatabase;
let imap: TestApp;
let mailboxId: string;
const USER = 'reader@example.org';
const PASS = 'imap password';

beforeAll(async () => {
  db = await createTestDatabase();
  mailboxId = await seedMailbox(db.pool, USER, PASS);
  const { certFile, keyFile } = writeCertificate();
  imap = await startTestApp({ DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: `imaptest${Date.now()}`, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, MAX_LITERAL_OCTETS: '100000', MAX_LINE_OCTETS: '2000',
    // No background indexer here: every SEARCH below must index its folder's new mail itself.
    SEARCH_INDEX_INTERVAL_MS: '0' });
});

afterAll(async () => {
  await imap?.stop();
  await db?.drop();
});

/** Sends `command` on a client whose line reader is detached and collects the answer's first `length` octets as they come. */
function rawAnswer(c: RawImap, command: string, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  return new Promise<Buffer>((resolve) => {
    c.socket.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= length) resolve(Buffer.concat(chunks));
    });
    c.send(command);
  });
}

async function loggedIn(): Promise<RawImap> {
  const c = await RawImap.connectTls(imap.app.tlsPort!);
  await c.line();
  const r = await c.cmd(`LOGIN ${USER} "${PASS}"`);
  expect(r.at(-1)).toMatch(/^a1 OK \[CAPABILITY .*\] logged in$/);
  return c;
}

describe('before login', () => {
  it('offers STARTTLS and refuses plaintext LOGIN until TLS', async () => {
    const c = await RawImap.connect(imap.app.port);
    const greeting = await c.line();
    expect(greeting).toMatch(/^\* OK \[CAPABILITY IMAP4rev1 IMAP4rev2 .*STARTTLS LOGINDISABLED\] Hopmail IMAP ready$/);
    expect(await c.cmd(`LOGIN ${USER} "${PASS}"`)).toEqual(['a1 NO [PRIVACYREQUIRED] use STARTTLS or port 993 first']);
    expect(await c.cmd('AUTHENTICATE PLAIN')).toEqual(['a2 NO [PRIVACYREQUIRED] use STARTTLS or port 993 first']);
    expect(await c.cmd('STARTTLS')).toEqual(['a3 OK begin TLS negotiation now']);
    await c.startTls();
    const caps = await c.cmd('CAPABILITY');
    expect(caps[0]).toContain('AUTH=PLAIN');
    expect(caps[0]).not.toContain('STARTTLS');
    expect(caps[0]).not.toContain('LOGINDISABLED');
    const plain = Buffer.from(`\0${USER}\0${PASS}`).toString('base64');
    expect((await c.cmd(`AUTHENTICATE PLAIN ${plain}`)).at(-1)).toMatch(/^a5 OK \[CAPABILITY .*\] logged in$/);
    c.close();
  });

  it('drops what was pipelined in clear behind STARTTLS', async () => {
    const c = await RawImap.connect(imap.app.port);
    await c.line();
    c.send(`a1 STARTTLS\r\na2 LOGIN ${USER} "${PASS}"\r\n`);
    expect(await c.line()).toBe('a1 OK begin TLS negotiation now');
    await c.startTls();
    expect(await c.cmd('NOOP', 'a3')).toEqual(['a3 OK NOOP completed']);
    c.close();
  });

  it('answers commands in the wrong state with BAD, and wrong passwords with AUTHENTICATIONFAILED', async () => {
    const c = await RawImap.connectTls(imap.app.tlsPort!);
    await c.line();
    expect(await c.cmd('SELECT INBOX')).toEqual(['a1 BAD SELECT: log in first']);
    expect(await c.cmd('FETCH 1 FLAGS')).toEqual(['a2 BAD FETCH: log in first']);
    expect(await c.cmd('BLURDY')).toEqual(['a3 BAD unknown command']);
    expect(await c.cmd(`LOGIN ${USER} wrong`)).toEqual(['a4 NO [AUTHENTICATIONFAILED] invalid credentials']);
    expect((await c.cmd(`LOGIN ${USER} "${PASS}"`)).at(-1)).toMatch(/^a5 OK/);
    expect(await c.cmd('FETCH 1 FLAGS')).toEqual(['a6 BAD FETCH: select a mailbox first']);
    expect(await c.cmd('LOGIN x y')).toEqual(['a7 BAD LOGIN: already logged in']);
    expect(await c.cmd('LOGOUT')).toEqual(['* BYE Hopmail IMAP signing off', 'a8 OK LOGOUT completed']);
    await c.closed();
  });
});

describe('mailboxes', () => {
  it('lists INBOX and the special-use folders every mailbox gets', async () => {
    const c = await loggedIn();
    expect(await c.cmd('LIST "" "*"')).toEqual([
      '* LIST (\\HasNoChildren) "/" "INBOX"',
      '* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
      '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
      '* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
      '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
      '* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
      'a2 OK LIST completed',
    ]);
    expect(await c.cmd('LIST (SPECIAL-USE) "" "*" RETURN (SUBSCRIBED)')).toHaveLength(6);
    expect(await c.cmd('LIST "" ""')).toEqual(['* LIST (\\Noselect) "/" ""', 'a4 OK LIST completed']);
    c.close();
  });

  it('creates, renames, subscribes and deletes, with non-ASCII names as modified UTF-7 or UTF-8', async () => {
    const c = await loggedIn();
    expect(await c.cmd('CREATE "Projects/Été"')).toEqual(['a2 BAD mailbox name is not valid modified UTF-7']);
    expect(await c.cmd('CREATE Projects/&AMk-t&AOk-')).toEqual(['a3 OK CREATE completed']);
    expect(await c.cmd('CREATE Projects/&AMk-t&AOk-')).toEqual(['a4 NO [ALREADYEXISTS] mailbox exists']);
    expect(await c.cmd('LIST "" "Projects/%"')).toEqual(['* LIST (\\HasNoChildren) "/" "Projects/&AMk-t&AOk-"', 'a5 OK LIST completed']);
    expect(await c.cmd('ENABLE IMAP4rev2')).toEqual(['* ENABLED IMAP4rev2', 'a6 OK ENABLE completed']);
    expect(await c.cmd('LIST "" "Projects*"')).toEqual(['* LIST (\\HasChildren) "/" "Projects"', '* LIST (\\HasNoChildren) "/" "Projects/Été"', 'a7 OK LIST completed']);
    expect(await c.cmd('RENAME Projects Work')).toEqual(['a8 OK RENAME completed']);
    expect(await c.cmd('STATUS "Work/Été" (MESSAGES UIDNEXT SIZE UNSEEN)')).toEqual(['* STATUS "Work/Été" (MESSAGES 0 UIDNEXT 1 SIZE 0 UNSEEN 0)', 'a9 OK STATUS completed']);
    expect(await c.cmd('UNSUBSCRIBE Work')).toEqual(['a10 OK UNSUBSCRIBE completed']);
    expect(await c.cmd('LSUB "" "Work*"')).toEqual(['* LSUB (\\HasNoChildren) "/" "Work/Été"', 'a11 OK LSUB completed']);
    expect(await c.cmd('DELETE "Work/Été"')).toEqual(['a12 OK DELETE completed']);
    expect(await c.cmd('DELETE Work')).toEqual(['a13 OK DELETE completed']);
    expect(await c.cmd('DELETE Work')).toEqual(['a14 NO [NONEXISTENT] no such mailbox']);
    expect(await c.cmd('DELETE INBOX')).toEqual(['a15 NO [CANNOT] INBOX cannot be deleted']);
    c.close();
  });

  it('refuses names with "..", control characters, empty levels or 1,000 levels', async () => {
    const c = await loggedIn();
    expect(await c.cmd('CREATE "a/../b"')).toEqual(['a2 NO [CANNOT] "." and ".." are not mailbox names']);
    expect(await c.cmd('CREATE {3+}\r\na\tb')).toEqual(['a3 NO [CANNOT] control characters in mailbox name']);
    expect(await c.cmd('CREATE "a//b"')).toEqual(['a4 NO [CANNOT] empty hierarchy level']);
    const deep = Array(1000).fill('x').join('/');
    expect(await c.cmd(`CREATE {${deep.length}+}\r\n${deep}`)).toEqual(['a5 NO [CANNOT] mailbox name longer than 500 characters']);
    expect(await c.cmd(`CREATE ${Array(100).fill('x').join('/')}`)).toEqual(['a6 NO [CANNOT] more than 32 levels']);
    c.close();
  });
});

describe('messages', () => {
  it('selects, fetches, stores, searches, copies, moves and expunges', async () => {
    await deliver(db.pool, mailboxId, USER, sampleMessage('first'));
    await deliver(db.pool, mailboxId, USER, sampleMessage('second', 'Some body text with a needle in it.\r\n'));
    const c = await loggedIn();
    const sel = await c.cmd('SELECT INBOX');
    expect(sel[0]).toBe('* 2 EXISTS');
    expect(sel).toContain('* OK [UIDNEXT 3] predicted next UID');
    expect(sel.at(-1)).toBe('a2 OK [READ-WRITE] SELECT completed');
    const f = await c.cmd('FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)');
    expect(f[0]).toBe(
      `* 1 FETCH (UID 1 FLAGS () RFC822.SIZE ${sampleMessage('first').length} ENVELOPE ("Sun, 06 Dec 2026 05:00:00 +0000" "first" (("Ann Sender" NIL "ann" "example.net")) (("Ann Sender" NIL "ann" "example.net")) (("Ann Sender" NIL "ann" "example.net")) ((NIL NIL "reader" "example.org")("Bob" NIL "bob" "example.org")) NIL NIL NIL "<first@example.net>"))`,
    );
    expect(await c.cmd('FETCH 2 BODYSTRUCTURE')).toEqual(['* 2 FETCH (BODYSTRUCTURE ("text" "plain" ("CHARSET" "us-ascii") NIL NIL "7bit" 37 1 NIL NIL NIL NIL))', 'a4 OK FETCH completed']);
    expect(await c.cmd('FETCH 2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT]<5.4>)')).toEqual([
      '* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {19}\r\nSubject: second\r\n\r\n BODY[TEXT]<5> {4}\r\nbody)',
      'a5 OK FETCH completed',
    ]);
    expect(await c.cmd('FETCH 1 FLAGS')).toEqual(['* 1 FETCH (FLAGS ())', 'a6 OK FETCH completed']);
    const body = await c.cmd('FETCH 1 BODY[]');
    expect(body[0]).toContain('FLAGS (\\Seen)');
    expect(await c.cmd('STORE 1 +FLAGS (\\Flagged $Work)')).toEqual(['* 1 FETCH (FLAGS ($Work \\Flagged \\Seen))', 'a8 OK STORE completed']);
    expect(await c.cmd('UID STORE 2 +FLAGS.SILENT (\\Answered)')).toEqual(['a9 OK UID STORE completed']);
    expect(await c.cmd('SEARCH FLAGGED')).toEqual(['* SEARCH 1', 'a10 OK SEARCH completed']);
    expect(await c.cmd('SEARCH BODY needle')).toEqual(['* SEARCH 2', 'a11 OK SEARCH completed']);
    expect(await c.cmd('UID SEARCH SUBJECT SECOND')).toEqual(['* SEARCH 2', 'a12 OK UID SEARCH completed']);
    expect(await c.cmd('SEARCH HEADER Message-ID "<first@"')).toEqual(['* SEARCH 1', 'a13 OK SEARCH completed']);
    expect(await c.cmd('SEARCH OR UNSEEN ANSWERED NOT 1')).toEqual(['* SEARCH 2', 'a14 OK SEARCH completed']);
    expect(await c.cmd('SEARCH TEXT ".*"')).toEqual(['* SEARCH', 'a15 OK SEARCH completed']);
    expect(await c.cmd('SEARCH RETURN (MIN COUNT) ALL')).toEqual(['* ESEARCH (TAG "a16") MIN 1 COUNT 2', 'a16 OK SEARCH completed']);
    expect(await c.cmd('COPY 1:2 Archive')).toEqual(['a17 OK [COPYUID 6 1:2 1:2] COPY completed']);
    expect(await c.cmd('UID MOVE 1 Trash')).toEqual(['* OK [COPYUID 4 1 1] moved', '* 1 EXPUNGE', 'a18 OK UID MOVE completed']);
    expect(await c.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)')).toEqual(['a19 OK STORE completed']);
    expect(await c.cmd('EXPUNGE')).toEqual(['* 1 EXPUNGE', 'a20 OK EXPUNGE completed']);
    expect(await c.cmd('STATUS Archive (MESSAGES UNSEEN)')).toEqual(['* STATUS "Archive" (MESSAGES 2 UNSEEN 1)', 'a21 OK STATUS completed']);
    expect(await c.cmd('COPY 1 Nowhere')).toEqual(['a22 NO [TRYCREATE] no such mailbox']);
    c.close();
  });

  it('keeps flags across sessions and appends with LITERAL+ and synchronizing literals', async () => {
    const c = await loggedIn();
    await c.cmd('SELECT Archive');
    const msg = 'Subject: appended\r\n\r\nhi\r\n';
    expect(await c.cmd(`APPEND Archive (\\Seen) {${msg.length}+}\r\n${msg}`)).toEqual(['* 3 EXISTS', `a3 OK [APPENDUID 6 3] APPEND completed`]);
    c.send(`x4 APPEND Drafts (\\Draft) "06-Dec-2026 05:00:00 +0100" {${msg.length}}\r\n`);
    expect(await c.line()).toBe('+ go ahead');
    c.send(`${msg}\r\n`);
    expect(await c.until('x4')).toEqual(['x4 OK [APPENDUID 3 1] APPEND completed']);
    expect(await c.cmd(`APPEND Trash {${msg.length}+}\r\n${msg} (\\Seen) {${msg.length}+}\r\n${msg}`)).toEqual(['a4 OK [APPENDUID 4 2:3] APPEND completed']);
    c.close();
    const d = await loggedIn();
    await d.cmd('EXAMINE Archive');
    expect(await d.cmd('FETCH 1:* FLAGS')).toEqual(['* 1 FETCH (FLAGS ($Work \\Flagged \\Seen))', '* 2 FETCH (FLAGS (\\Answered))', '* 3 FETCH (FLAGS (\\Seen))', 'a3 OK FETCH completed']);
    expect(await d.cmd('STORE 1 +FLAGS (\\Deleted)')).toEqual(['a4 NO [READ-ONLY] mailbox is read-only']);
    await d.cmd('SELECT Drafts');
    expect(await d.cmd('FETCH 1 (INTERNALDATE FLAGS)')).toEqual(['* 1 FETCH (FLAGS (\\Draft) INTERNALDATE "06-Dec-2026 04:00:00 +0000")', 'a6 OK FETCH completed']);
    d.close();
  });
});

describe('bad input', () => {
  it('refuses oversized literals and lines, bad sequence sets and deep nesting, and keeps serving', async () => {
    await deliver(db.pool, mailboxId, USER, sampleMessage('bad input'));
    const c = await loggedIn();
    c.send('x2 APPEND INBOX {2147483648}\r\n');
    expect(await c.line()).toBe('x2 BAD [TOOBIG] literal too big');
    expect(await c.cmd(`NOOP ${'x'.repeat(3000)}`)).toEqual(['a2 BAD [TOOBIG] line too long']);
    await c.cmd('SELECT INBOX');
    expect(await c.cmd('FETCH *:* FLAGS')).toHaveLength(2);
    expect(await c.cmd('FETCH 1:x FLAGS')).toEqual(['a5 BAD bad sequence set']);
    expect((await c.cmd(`SEARCH ${'('.repeat(200)}ALL${')'.repeat(200)}`)).at(-1)).toBe('a6 BAD too deeply nested');
    expect((await c.cmd(`UID FETCH ${Array.from({ length: 20_000 }, (_, i) => i + 1).join(',')} FLAGS`)).at(-1)).toBe('a7 BAD [TOOBIG] line too long');
    expect(await c.cmd('NOOP')).toEqual(['a8 OK NOOP completed']);
    c.close();
  });

  it('closes the connection when an IDLE or SASL line grows past the line limit', async () => {
    const c = await loggedIn();
    c.send('a2 IDLE\r\n');
    expect(await c.line()).toBe('+ idling');
    c.send('x'.repeat(5_000));
    expect(await c.line()).toBe('* BYE [TOOBIG] line too long');
    await c.closed();
  });

  it('closes the connection on an oversized non-synchronizing literal', async () => {
    const c = await loggedIn();
    c.send('a2 APPEND INBOX {2147483648+}\r\nxxxx');
    expect(await c.line()).toBe('* BYE [TOOBIG] literal too big');
    await c.closed();
  });

  it('survives a client that drops the connection mid-command', async () => {
    const c = await loggedIn();
    c.send('a2 APPEND INBOX {50}\r\n');
    expect(await c.line()).toBe('+ go ahead');
    c.send('partial');
    c.close();
    const d = await loggedIn();
    expect(await d.cmd('NOOP')).toEqual(['a2 OK NOOP completed']);
    d.close();
  });
});

describe('large messages', () => {
  async function bytesSent(): Promise<number> {
    const m = (await imap.registry.getMetricsAsJSON()).find((x) => x.name === 'hopmail_imap_bytes_sent_total');
    return Number((m?.values[0] as { value?: number } | undefined)?.value ?? 0);
  }

  it('streams BODY[] from PostgreSQL, and a client that stops reading stops the reads', { timeout: 60_000 }, async () => {
    const size = 32 * 1024 * 1024;
    const raw = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(size, 'x')]);
    await deliver(db.pool, mailboxId, USER, raw);
    const c = await loggedIn();
    const sel = await c.cmd('SELECT INBOX');
    const n = Number(/^\* (\d+) EXISTS$/.exec(sel[0]!)![1]);
    c.socket.pause();
    const before = await bytesSent();
    c.send(`a3 FETCH ${n} BODY.PEEK[]\r\n`);
    await new Promise((r) => setTimeout(r, 1_000));
    const stalled = (await bytesSent()) - before;
    expect(stalled).toBeLessThan(size / 2);
    expect(stalled).toBeGreaterThan(0);
    // Count what arrives from here on without buffering it (the test client's line reader
    // would copy 32 MiB over and over).
    c.socket.removeAllListeners('data');
    const head = `* ${n} FETCH (BODY[] {${raw.length}}\r\n`;
    const total = head.length + raw.length + ')\r\na3 OK FETCH completed\r\n'.length;
    let got = 0;
    let first = '';
    let tail = Buffer.alloc(0);
    await new Promise<void>((resolve) => {
      c.socket.on('data', (d: Buffer) => {
        if (first.length < 64) first += d.subarray(0, 64).toString('latin1');
        got += d.length;
        tail = Buffer.concat([tail, d]).subarray(-64);
        if (got >= total) resolve();
      });
      c.socket.resume();
    });
    expect(first.startsWith(`${head}Subject: big`)).toBe(true);
    expect(got).toBe(total);
    expect(tail.toString('latin1').endsWith('xxx)\r\na3 OK FETCH completed\r\n')).toBe(true);
    c.close();
  });
});

describe('FETCH of many messages', () => {
  it('answers BODY[] of 230 messages across batches byte for byte, small ones from the batch, a large one streamed, \\Seen set once', { timeout: 60_000 }, async () => {
    const user = 'batches@example.org';
    const box = await seedMailbox(db.pool, user, PASS);
    // Every octet but NUL (RFC 9051's CHAR8: a literal carries no NUL).
    const every = Buffer.from(Array.from({ length: 1020 }, (_, i) => 1 + (i % 255)));
    const raws = Array.from({ length: 230 }, (_, i) =>
      i === 5 ? Buffer.concat([Buffer.from('Subject: octets\r\n\r\n'), every])
      : i === 100 ? Buffer.concat([Buffer.from('Subject: large\r\n\r\n'), Buffer.alloc(20_000, 'L')])
      : i === 215 ? Buffer.concat([Buffer.from('Subject: limit\r\n\r\n'), Buffer.alloc(16_384 - 18, 'M')])
      : sampleMessage(`m${i}`, 'x'.repeat((i * 37) % 5000)),
    );
    expect(raws[215]!.length).toBe(16_384);
    for (const raw of raws) await deliver(db.pool, box, user, raw);
    const c = await RawImap.connectTls(imap.app.tlsPort!);
    await c.line();
    expect((await c.cmd(`LOGIN ${user} "${PASS}"`)).at(-1)).toMatch(/^a1 OK/);
    expect((await c.cmd('SELECT INBOX')).at(-1)).toMatch(/^a2 OK \[READ-WRITE\]/);
    const uids = (await c.cmd('UID SEARCH ALL'))[0]!.split(' ').slice(2).map(Number);
    expect(uids).toHaveLength(230);

    // The whole answer, as bytes (the line reader decodes literals as text).
    c.socket.removeAllListeners('data');
    const expected = Buffer.concat([
      ...raws.flatMap((raw, i) => [Buffer.from(`* ${i + 1} FETCH (UID ${uids[i]} FLAGS (\\Seen) BODY[] {${raw.length}}\r\n`), raw, Buffer.from(')\r\n')]),
      Buffer.from('a4 OK UID FETCH completed\r\n'),
    ]);
    const answer = await rawAnswer(c, 'a4 UID FETCH 1:* BODY[]\r\n', expected.length);
    expect(answer.length).toBe(expected.length);
    expect(Buffer.compare(answer, expected)).toBe(0);
    c.close();

    // Metadata only, across batches too; \Seen was set, and BODY.PEEK[] leaves flags alone.
    const d = await RawImap.connectTls(imap.app.tlsPort!);
    await d.line();
    await d.cmd(`LOGIN ${user} "${PASS}"`);
    await d.cmd('EXAMINE INBOX');
    const meta = await d.cmd('FETCH 1:* (UID FLAGS RFC822.SIZE)');
    expect(meta).toHaveLength(231);
    meta.slice(0, 230).forEach((l, i) => expect(l).toBe(`* ${i + 1} FETCH (UID ${uids[i]} FLAGS (\\Seen) RFC822.SIZE ${raws[i]!.length})`));
    expect(meta[230]).toBe('a3 OK FETCH completed');
    const peek = await d.cmd('FETCH 99:101 BODY.PEEK[]');
    expect(peek.map((l) => l.replace(/\{.*$/s, ''))).toEqual(['* 99 FETCH (BODY[] ', '* 100 FETCH (BODY[] ', '* 101 FETCH (BODY[] ', 'a4 OK FETCH completed']);
    d.close();
  });
});

describe('FETCH reading batches ahead (FETCH_READ_AHEAD)', () => {
  it('reads three batches at once on three pooled connections, and answers in order byte for byte', { timeout: 60_000 }, async () => {
    const ahead = await startTestApp({ DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: `imaptest${Date.now()}`, SEARCH_INDEX_INTERVAL_MS: '0', FETCH_BATCH: '10', FETCH_READ_AHEAD: '3', ALLOW_PLAINTEXT_AUTH: 'true' });
    try {
      const user = 'ahead@example.org';
      const box = await seedMailbox(db.pool, user, PASS);
      const raws = Array.from({ length: 95 }, (_, i) => sampleMessage(`ahead ${i}`, 'y'.repeat((i * 53) % 3000)));
      for (const raw of raws) await deliver(db.pool, box, user, raw);
      const c = await RawImap.connect(ahead.app.port);
      await c.line();
      expect((await c.cmd(`LOGIN ${user} "${PASS}"`)).at(-1)).toMatch(/^a1 OK/);
      expect((await c.cmd('SELECT INBOX')).at(-1)).toMatch(/^a2 OK/);
      const before = ahead.pool.totalCount;
      c.socket.removeAllListeners('data');
      const expected = Buffer.concat([
        ...raws.flatMap((raw, i) => [Buffer.from(`* ${i + 1} FETCH (FLAGS (\\Seen) BODY[] {${raw.length}}\r\n`), raw, Buffer.from(')\r\n')]),
        Buffer.from('a3 OK FETCH completed\r\n'),
      ]);
      expect(Buffer.compare(await rawAnswer(c, 'a3 FETCH 1:* BODY[]\r\n', expected.length), expected)).toBe(0);
      // The session's own statements take one connection at a time: three at once were the batches read ahead.
      expect(before).toBeLessThanOrEqual(2);
      expect(ahead.pool.totalCount).toBeGreaterThanOrEqual(3);
      c.close();
    } finally {
      await ahead.stop();
    }
  });
});

describe('IDLE', () => {
  it('reports a delivery and another session flag change while idling', async () => {
    const c = await loggedIn();
    const sel = await c.cmd('SELECT INBOX');
    const exists = Number(/^\* (\d+) EXISTS$/.exec(sel[0]!)![1]);
    c.send('a3 IDLE\r\n');
    expect(await c.line()).toBe('+ idling');
    await deliver(db.pool, mailboxId, USER, sampleMessage('idle'));
    expect(await c.line(2_000)).toBe(`* ${exists + 1} EXISTS`);
    const other = await loggedIn();
    await other.cmd('SELECT INBOX');
    await other.cmd(`STORE ${exists + 1} +FLAGS (\\Flagged)`);
    expect(await c.line(2_000)).toMatch(new RegExp(`^\\* ${exists + 1} FETCH \\(UID \\d+ FLAGS \\(\\\\Flagged\\)\\)$`));
    c.send('DONE\r\n');
    expect(await c.line()).toBe('a3 OK IDLE terminated');
    other.close();
    c.close();
  });

  it('a burst of deliveries reaches every idling session (wake-ups folded and shared, none lost)', async () => {
    const sessions = await Promise.all(Array.from({ length: 20 }, () => loggedIn()));
    let exists = 0;
    for (const s of sessions) {
      exists = Number(/^\* (\d+) EXISTS$/.exec((await s.cmd('SELECT INBOX'))[0]!)![1]);
      s.send('a3 IDLE\r\n');
      expect(await s.line()).toBe('+ idling');
    }
    await Promise.all(Array.from({ length: 8 }, (_, i) => deliver(db.pool, mailboxId, USER, sampleMessage(`burst ${i}`))));
    for (const s of sessions) {
      // Folded wake-ups may report several deliveries in one EXISTS; the last one counts all.
      let last = '';
      while (last !== `* ${exists + 8} EXISTS`) last = await s.line(5_000);
      s.send('DONE\r\n');
      expect(await s.line()).toBe('a3 OK IDLE terminated');
      s.close();
    }
  });
});

describe('SEARCH from the index (migration 0021)', () => {
  it('indexes new mail off the delivery path: delivery only queues it, the background indexer drains the queue', async () => {
    const user = 'queued@example.org';
    const box = await seedMailbox(db.pool, user, PASS);
    await deliver(db.pool, box, user, sampleMessage('queued for the index'));
    const id = (await db.pool.query<{ message_id: string }>('SELECT message_id FROM mailbox_messages WHERE mailbox_id = $1', [box])).rows[0]!.message_id;
    expect((await db.pool.query('SELECT 1 FROM message_search_pending WHERE message_id = $1', [id])).rowCount).toBe(1);
    // The background indexer (SEARCH_INDEX_INTERVAL_MS) of a second replica takes it without any SEARCH asking.
    const indexer = await startTestApp({ DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: `imaptest${Date.now()}`, SEARCH_INDEX_INTERVAL_MS: '100' });
    await waitFor(async () => (await db.pool.query('SELECT 1 FROM message_search WHERE message_id = $1', [id])).rowCount === 1, { timeoutMs: 20_000, what: 'the indexer' });
    expect((await db.pool.query('SELECT 1 FROM message_search_pending WHERE message_id = $1', [id])).rowCount).toBe(0);
    await indexer.stop();
  });

  it('header, BODY and TEXT as case-insensitive substrings, SENT* from the Date: field', async () => {
    const user = 'searcher@example.org';
    const box = await seedMailbox(db.pool, user, PASS);
    const today = new Date().toISOString().slice(0, 10);
    const msg = (fields: string, body: string) => Buffer.from(`From: ann@example.net\r\n${fields}\r\n${body}`, 'utf8');
    // 1: a folded Subject: with LIKE's wildcards in it, a UTF-8 body, a Date: whose UTC day is the next one.
    await deliver(db.pool, box, user, msg('Subject: quarterly\r\n report 100%_done\r\nDate: Mon, 1 Jun 2026 23:30:00 -0700\r\n', 'Grüße aus der Straße\r\n'));
    // 2: no Date: field (the received date counts); 3: an obsolete two-digit year.
    await deliver(db.pool, box, user, msg('Subject: undated\r\n', 'plain\r\n'));
    await deliver(db.pool, box, user, msg('Subject: old\r\nDate: 5 Jun 99 10:00 GMT\r\n', 'plain\r\n'));
    // 4: a body longer than the indexed 1 MiB, the needle past it.
    await deliver(db.pool, box, user, msg('Subject: big\r\nDate: 10 Jun 2026 10:00:00 +0000\r\n', `${'filler line\r\n'.repeat(100_000)}TailNeedle\r\n`));
    // 5: a Date: that is no date.
    await deliver(db.pool, box, user, msg('Subject: bad date\r\nDate: Sat, 31 Feb 2026 10:00:00 +0000\r\n', 'plain\r\n'));
    const c = await RawImap.connectTls(imap.app.tlsPort!);
    await c.line();
    expect((await c.cmd(`LOGIN ${user} "${PASS}"`)).at(-1)).toMatch(/OK/);
    await c.cmd('SELECT INBOX');
    const search = async (keys: string) => (await c.cmd(`SEARCH ${keys}`))[0];
    const [y, mo, d] = today.split('-');
    const imapToday = `${Number(d)}-${['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][Number(mo) - 1]}-${y}`;
    const expected: [string, string][] = [
      ['SUBJECT "REPORT 100%_done"', '* SEARCH 1'],
      ['SUBJECT "quarterly report"', '* SEARCH 1'],
      ['SUBJECT "1_0"', '* SEARCH'],
      ['SUBJECT "%"', '* SEARCH 1'],
      ['HEADER DATE "jun 99"', '* SEARCH 3'],
      ['HEADER subject ""', '* SEARCH 1 2 3 4 5'],
      ['FROM ann NOT SUBJECT e', '* SEARCH 3 4'],
      ['BODY "STRAßE"', '* SEARCH 1'],
      ['BODY strasse', '* SEARCH'],
      ['CHARSET UTF-8 TEXT "grÜße"', '* SEARCH'],
      ['TEXT "grüße"', '* SEARCH 1'],
      ['BODY tailneedle', '* SEARCH 4'],
      ['TEXT TAILNEEDLE', '* SEARCH 4'],
      ['TEXT "subject: big"', '* SEARCH 4'],
      ['OR BODY tailneedle BODY plain', '* SEARCH 2 3 4 5'],
      // RFC 9051 §6.4.4: the Date: field's date, time and time zone disregarded.
      ['SENTON 1-Jun-2026', '* SEARCH 1'],
      ['SENTBEFORE 1-Jan-2000', '* SEARCH 3'],
      ['SENTSINCE 2-Jun-2026 SENTBEFORE 1-Jan-2100', '* SEARCH 2 4 5'],
      [`SENTON ${imapToday}`, '* SEARCH 2 5'],
      [`ON ${imapToday}`, '* SEARCH 1 2 3 4 5'],
    ];
    // No background indexer here (SEARCH_INDEX_INTERVAL_MS=0): every message is still queued for
    // the index, and SEARCH reads them all from the stored bytes (migration 0029) without indexing
    // them; then the same searches from the index give the same answers.
    for (const [keys, answer] of expected) expect([keys, await search(keys)]).toEqual([keys, answer]);
    const indexed = () => db.pool.query('SELECT 1 FROM message_search s JOIN mailbox_messages m USING (message_id) WHERE m.mailbox_id = $1', [box]).then((r) => r.rowCount);
    expect(await indexed()).toBe(0);
    await db.pool.query('SELECT hopmail_search_index(p.message_id) FROM message_search_pending p JOIN mailbox_messages m USING (message_id) WHERE m.mailbox_id = $1', [box]);
    expect(await indexed()).toBe(5);
    for (const [keys, answer] of expected) expect([keys, await search(keys)]).toEqual([keys, answer]);
    expect(await c.cmd('SEARCH SENTON 2026-06-01', 'b1')).toEqual(['b1 BAD bad date']);
    c.close();
  });
  it('messages with NUL octets are indexed and found (migration 0024), and hold up no other message', async () => {
    const user = 'nul@example.org';
    const box = await seedMailbox(db.pool, user, PASS);
    const msg = (subject: string, body: string) => Buffer.from(`From: ann@example.net\r\nSubject: ${subject}\r\n\r\n${body}`, 'latin1');
    await deliver(db.pool, box, user, msg('nul\x00inside', 'before\x00after \\000 kept\r\n'));
    await deliver(db.pool, box, user, msg('clean', 'after the nul one\r\n'));
    // A long body, its needle past the indexed 1 MiB with a NUL on the way: the stored-bytes fallback.
    await deliver(db.pool, box, user, msg('long', `${'filler\x00line\r\n'.repeat(100_000)}DeepNeedle\r\n`));
    // The background indexer takes batches: one NUL message must not fail the others.
    const indexer = await startTestApp({ DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: `imaptest${Date.now()}`, SEARCH_INDEX_INTERVAL_MS: '100' });
    await waitFor(async () => (await db.pool.query('SELECT 1 FROM message_search s JOIN mailbox_messages m USING (message_id) WHERE m.mailbox_id = $1', [box])).rowCount === 3, { timeoutMs: 20_000, what: 'all three indexed' });
    await indexer.stop();
    const c = await RawImap.connectTls(imap.app.tlsPort!);
    await c.line();
    expect((await c.cmd(`LOGIN ${user} "${PASS}"`)).at(-1)).toMatch(/OK/);
    await c.cmd('SELECT INBOX');
    const search = async (keys: string) => (await c.cmd(`SEARCH ${keys}`))[0];
    expect(await search('SUBJECT nulinside')).toBe('* SEARCH 1');
    expect(await search('BODY beforeafter')).toBe('* SEARCH 1');
    expect(await search('BODY "\\\\000 kept"')).toBe('* SEARCH 1');
    expect(await search('BODY after')).toBe('* SEARCH 1 2');
    expect(await search('BODY deepneedle')).toBe('* SEARCH 3');
    c.close();
  });
});

describe('SORT (RFC 5256)', () => {
  it('sorts by base subject, date, sender and size, reversed on request, UID variant too', async () => {
    const c = await loggedIn();
    await c.cmd('CREATE Sorted');
    const m = (from: string, subject: string, date: string, pad = '') => `From: ${from}\r\nSubject: ${subject}\r\nDate: ${date}\r\n\r\nbody${pad}\r\n`;
    for (const msg of [
      m('zed@example.net', 'Re: [list] beta', 'Mon, 01 Jun 2026 10:00:00 +0000', 'xxxxxxxx'),
      m('"Amy" <amy@example.net>', 'alpha', 'Wed, 03 Jun 2026 10:00:00 +0000'),
      m('bob@example.net', 'Fwd: Gamma (fwd)', 'Tue, 02 Jun 2026 10:00:00 +0000', 'xxxx'),
    ]) await c.cmd(`APPEND Sorted {${msg.length}+}\r\n${msg}`);
    await c.cmd('SELECT Sorted');
    expect(await c.cmd('SORT (SUBJECT) UTF-8 ALL')).toEqual(['* SORT 2 1 3', 'a7 OK SORT completed']);
    expect(await c.cmd('SORT (DATE) UTF-8 ALL')).toEqual(['* SORT 1 3 2', 'a8 OK SORT completed']);
    expect(await c.cmd('SORT (REVERSE SIZE) UTF-8 ALL')).toEqual(['* SORT 1 3 2', 'a9 OK SORT completed']);
    expect(await c.cmd('UID SORT (FROM) US-ASCII NOT SUBJECT alpha')).toEqual(['* SORT 3 1', 'a10 OK UID SORT completed']);
    expect(await c.cmd('SORT (DISPLAYFROM) UTF-8 ALL')).toEqual(['* SORT 2 3 1', 'a11 OK SORT completed']);
    expect(await c.cmd('SORT (SUBJECT) KOI8-R ALL')).toEqual(['a12 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset']);
    expect(await c.cmd('SORT (REVERSE) UTF-8 ALL')).toEqual(['a13 BAD REVERSE needs a sort key']);
    const reply = `Subject: Re: alpha\r\nDate: Thu, 04 Jun 2026 10:00:00 +0000\r\n\r\nre\r\n`;
    await c.cmd(`APPEND Sorted {${reply.length}+}\r\n${reply}`);
    await c.cmd('NOOP');
    expect(await c.cmd('THREAD ORDEREDSUBJECT UTF-8 ALL')).toEqual(['* THREAD (1)(3)(2 4)', 'a16 OK THREAD completed']);
    expect(await c.cmd('THREAD REFERENCES UTF-8 ALL')).toEqual(['* THREAD (1)(3)(2 4)', 'a17 OK THREAD completed']);
    expect(await c.cmd('THREAD X-UNKNOWN UTF-8 ALL')).toEqual(['a18 NO [CANNOT] THREAD=ORDEREDSUBJECT and THREAD=REFERENCES are supported']);
    c.close();
  });

  it('THREAD=REFERENCES: parents from References and In-Reply-To, dummies for missing ones, base subjects gathered', async () => {
    const c = await loggedIn();
    expect((await c.cmd('CAPABILITY'))[0]).toContain(' THREAD=REFERENCES');
    await c.cmd('CREATE Threads');
    const m = (id: string | null, refs: string, subject: string, day: number) =>
      `${id ? `Message-ID: <${id}@x.example>\r\n` : ''}${refs}Subject: ${subject}\r\nDate: ${String(day).padStart(2, '0')} Jun 2026 10:00:00 +0000\r\n\r\nbody\r\n`;
    for (const msg of [
      m('a', '', 'topic', 2),
      m('b', 'References: <a@x.example>\r\n', 'Re: topic', 3),
      m('c', 'In-Reply-To: <a@x.example> (Ann)\r\n', 'Re: topic', 4),
      m('d', 'References: <a@x.example>\r\n <b@x.example>\r\n', 'Re: topic', 5),
      m('e', 'References: <missing@x.example>\r\n', 'other', 6),
      m('f', 'References: <missing@x.example>\r\n', 'Re: other', 7),
      m(null, '', 'unrelated', 1),
      m('h', 'References: <gone@x.example>\r\n', 'Re: lonely', 8),
      m('i', '', 'Re: unrelated', 9),
    ]) expect((await c.cmd(`APPEND Threads {${msg.length}+}\r\n${msg}`)).at(-1)).toMatch(/OK \[APPENDUID/);
    await c.cmd('SELECT Threads');
    // 7 and its reply 9 by subject; 1 with 2 (and 2's reply 4) and 3; 5 and 6 under the missing message; 8 alone.
    expect(await c.cmd('THREAD REFERENCES UTF-8 ALL', 't1')).toEqual(['* THREAD (7 9)(1 (2 4)(3))((5)(6))(8)', 't1 OK THREAD completed']);
    expect(await c.cmd('UID THREAD REFERENCES UTF-8 SUBJECT topic', 't2')).toEqual(['* THREAD (1 (2 4)(3))', 't2 OK UID THREAD completed']);
    expect(await c.cmd('THREAD REFERENCES UTF-8 SUBJECT nothing-matches', 't3')).toEqual(['* THREAD', 't3 OK THREAD completed']);
    expect(await c.cmd('THREAD REFERENCES KOI8-R ALL', 't4')).toEqual(['t4 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset']);
    expect(await c.cmd('THREAD REFERENCES', 't5')).toEqual(['t5 BAD THREAD needs an algorithm, a charset and search keys']);
    expect(await c.cmd('THREAD REFERENCES UTF-8', 't6')).toEqual(['t6 BAD missing search key']);
    c.close();
  });
});

describe('CONDSTORE and QRESYNC (RFC 7162)', () => {
  it('MODSEQ per message, UNCHANGEDSINCE, and a resync that reports what vanished and changed', async () => {
    const c = await loggedIn();
    expect(await c.cmd('CREATE Sync')).toEqual(['a2 OK CREATE completed']);
    const msg = 'Subject: sync\r\n\r\nx\r\n';
    for (let i = 0; i < 3; i++) await c.cmd(`APPEND Sync {${msg.length}+}\r\n${msg}`);
    const sel = await c.cmd('SELECT Sync (CONDSTORE)');
    const uidValidity = Number(/UIDVALIDITY (\d+)/.exec(sel.join('\n'))![1]);
    const modseq = Number(/HIGHESTMODSEQ (\d+)/.exec(sel.join('\n'))![1]);
    expect(await c.cmd(`UID STORE 1 (UNCHANGEDSINCE ${modseq}) +FLAGS (\\Flagged)`)).toEqual([`* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (${modseq + 1}))`, 'a7 OK UID STORE completed']);
    expect(await c.cmd(`UID STORE 1 (UNCHANGEDSINCE ${modseq}) +FLAGS (\\Seen)`)).toEqual(['a8 OK [MODIFIED 1] UID STORE completed']);
    expect(await c.cmd('UID STORE 2 +FLAGS.SILENT (\\Deleted)')).toEqual(['a9 OK UID STORE completed']);
    expect(await c.cmd('EXPUNGE')).toEqual(['* 2 EXPUNGE', 'a10 OK EXPUNGE completed']);
    expect(await c.cmd(`FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq})`)).toEqual([`* 1 FETCH (FLAGS (\\Flagged) MODSEQ (${modseq + 1}))`, 'a11 OK FETCH completed']);
    c.close();

    const d = await loggedIn();
    expect(await d.cmd(`SELECT Sync (QRESYNC (${uidValidity} ${modseq}))`)).toEqual(['a2 BAD QRESYNC must be enabled first']);
    expect(await d.cmd('ENABLE QRESYNC')).toEqual(['* ENABLED QRESYNC', 'a3 OK ENABLE completed']);
    const resync = await d.cmd(`SELECT Sync (QRESYNC (${uidValidity} ${modseq} 1:3))`);
    expect(resync.slice(-3)).toEqual(['* VANISHED (EARLIER) 2', `* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (${modseq + 1}))`, 'a4 OK [READ-WRITE] SELECT completed']);
    expect(await d.cmd(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq} VANISHED)`)).toEqual([
      '* VANISHED (EARLIER) 2',
      `* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (${modseq + 1}))`,
      'a5 OK UID FETCH completed',
    ]);
    expect(await d.cmd('UID STORE 3 +FLAGS.SILENT (\\Deleted)')).toHaveLength(1);
    expect(await d.cmd('UID EXPUNGE 3')).toEqual(['* VANISHED 3', 'a7 OK UID EXPUNGE completed']);
    d.close();
  });

  it('QUOTA from the mailbox counters (RFC 9208)', async () => {
    await db.pool.query('UPDATE mailboxes SET quota_bytes = 10485760 WHERE id = $1', [mailboxId]);
    const c = await loggedIn();
    const r = await c.cmd('GETQUOTAROOT INBOX');
    expect(r[0]).toBe('* QUOTAROOT "INBOX" ""');
    expect(r[1]).toMatch(/^\* QUOTA "" \(STORAGE \d+ 10240\)$/);
    expect(await c.cmd('SETQUOTA "" (STORAGE 1)')).toEqual(['a3 NO [NOPERM] quotas are set by the administrator']);
    c.close();
  });
});

const IMAPLIB = `
import imaplib, json, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
mode, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
if mode == 'starttls':
    m = imaplib.IMAP4('127.0.0.1', port, timeout=10)
    out['before'] = 'LOGINDISABLED' in m.capabilities
    m.starttls(ssl_context=ctx)
else:
    m = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx, timeout=10)
out['login'] = m.login(user, password)[0]
typ, data = m.list()
out['list'] = [d.decode() for d in data]
out['select'] = m.select('INBOX')[0]
m.append('INBOX', '(\\Flagged)', None, b'Subject: from imaplib\\r\\n\\r\\nhello\\r\\n')
typ, data = m.uid('SEARCH', None, 'SUBJECT', '"from imaplib"')
uid = data[0].split()[-1]
typ, data = m.uid('FETCH', uid, '(FLAGS BODY.PEEK[])')
out['fetch'] = [data[0][0].decode(), data[0][1].decode()]
out['move'] = m.uid('MOVE', uid, 'Archive')[0]
out['close'] = m.close()[0]
out['logout'] = m.logout()[0]
print(json.dumps(out))
`;

function imaplib(mode: 'starttls' | 'ssl', port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile('python3', ['-c', IMAPLIB, mode, String(port), USER, PASS], { timeout: 20_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as Record<string, unknown>)));
  });
}

describe("clients nobody here wrote: Python's imaplib", () => {
  it.each(['starttls', 'ssl'] as const)('%s: logs in, lists, appends, searches, fetches, moves, closes', async (mode) => {
    const out = await imaplib(mode, mode === 'ssl' ? imap.app.tlsPort! : imap.app.port);
    if (mode === 'starttls') expect(out.before).toBe(true);
    expect(out).toMatchObject({ login: 'OK', select: 'OK', move: 'OK', close: 'OK', logout: 'BYE' });
    expect(out.list).toContain('(\\HasNoChildren \\Sent) "/" "Sent"');
    const [head, body] = out.fetch as [string, string];
    expect(head).toMatch(/UID \d+ FLAGS \(\\Flagged\) BODY\[\] \{\d+\}$/);
    expect(body).toBe('Subject: from imaplib\r\n\r\nhello\r\n');
  });
});
