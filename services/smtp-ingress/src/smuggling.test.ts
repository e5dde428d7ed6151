// SMTP smuggling (CVE-2023-51766 and kin): a "." line ended by anything but CRLF must not
// end DATA, and what follows it must never run as commands or become a second message.
// smtp-server ends DATA only on <CRLF>.<CRLF> (smtp-stream.js END_SEQUENCE); we then refuse
// any message with a bare CR or LF (550 5.6.0). Exact bytes in, exact bytes out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpClient, countMessages, sleep, startIngress, type TestIngress } from '../test/helpers.ts';

let t: TestIngress;
beforeAll(async () => {
  t = await startIngress();
});
afterAll(async () => {
  await t?.stop();
});

const BARE = '550 5.6.0 Message contains bare CR or LF line endings (RFC 5321 section 2.3.8); send CRLF only';
const SMUGGLED = 'MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n';

async function openTransaction(): Promise<SmtpClient> {
  const c = await SmtpClient.connect(t.port);
  c.write('EHLO client.test\r\n');
  await c.reply();
  expect(await c.cmd('MAIL FROM:<a@remote.test>')).toBe('250 2.1.0 Accepted');
  expect(await c.cmd('RCPT TO:<alice@example.org>')).toBe('250 2.1.5 Accepted');
  expect(await c.cmd('DATA')).toBe('354 End data with <CR><LF>.<CR><LF>');
  return c;
}

/** Bytes after the reply to DATA. */
const after354 = (c: SmtpClient) => c.received.slice(c.received.indexOf('354 End data with <CR><LF>.<CR><LF>\r\n') + 37);

async function evilCount(): Promise<number> {
  const r = await t.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE mail_from = 'evil@remote.test' OR position('\\x736d7567676c6564'::bytea in raw) > 0`);
  return r.rows[0]!.n;
}

describe('a fake end-of-data never ends DATA', () => {
  it.each([
    ['\\n.\\n', '\n.\n'],
    ['\\n.\\r\\n', '\n.\r\n'],
    ['\\r\\n.\\n', '\r\n.\n'],
    ['\\r.\\r', '\r.\r'],
    ['\\r.\\r\\n', '\r.\r\n'],
    ['\\r\\n.\\r', '\r\n.\r'],
    ['\\n.\\r', '\n.\r'],
    ['\\r.\\n', '\r.\n'],
    ['\\n\\r.\\r\\n', '\n\r.\r\n'],
    ['\\r\\n\\r.\\r\\n', '\r\n\r.\r\n'],
  ])('%s followed by smuggled commands: one 550 5.6.0, nothing executed, nothing stored', async (_name, fake) => {
    const before = await countMessages(t.pool);
    const c = await openTransaction();
    c.write('Subject: s\r\n\r\nbody' + fake + SMUGGLED);
    await sleep(150);
    // Still in DATA: the fake terminator got no reply and the smuggled commands none either.
    expect(after354(c)).toBe('');
    c.write('.\r\n');
    expect(await c.reply()).toBe(BARE);
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(after354(c)).toBe(`${BARE}\r\n250 2.0.0 OK\r\n`);
    expect(await countMessages(t.pool)).toBe(before);
    expect(await evilCount()).toBe(0);
    c.close();
  });

  it('also when the fake terminator arrives one byte per TCP segment', async () => {
    const before = await countMessages(t.pool);
    const c = await openTransaction();
    c.socket.setNoDelay(true);
    c.write('Subject: s\r\n\r\nbody');
    for (const ch of '\r\n.\n' + 'MAIL FROM:<evil@remote.test>\r\n') {
      c.write(ch);
      await sleep(2);
    }
    c.write('RCPT TO:<bob@example.org>\r\nDATA\r\nx\r\n.\r\n');
    expect(await c.reply()).toBe(BARE);
    await sleep(100);
    expect(c.unread).toBe(0);
    expect(after354(c)).toBe(`${BARE}\r\n`);
    expect(await countMessages(t.pool)).toBe(before);
    c.close();
  });
});

describe('bare CR or LF anywhere in DATA', () => {
  it.each([
    ['LF-only line ends', 'Subject: x\nX: y\n\nbody\n\r\n.\r\n'],
    ['one bare LF in the header', 'Subject: x\nX: y\r\n\r\nbody\r\n.\r\n'],
    ['one bare CR in the body', 'Subject: x\r\n\r\nbo\rdy\r\n.\r\n'],
    ['CR CR LF', 'Subject: x\r\n\r\nbody\r\r\n.\r\n'],
  ])('%s: 550 5.6.0, nothing stored, the session goes on', async (_name, data) => {
    const before = await countMessages(t.pool);
    const c = await openTransaction();
    c.write(data);
    expect(await c.reply()).toBe(BARE);
    expect(await countMessages(t.pool)).toBe(before);
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toBe('250 2.1.0 Accepted');
    c.close();
  });
});

describe('NUL or control octets before a "." line (a hidden end of data for a server that strips them)', () => {
  const HIDDEN = '554 5.6.0 Message contains NUL or control characters before a "." line; not accepted';
  it.each([
    ['NUL then dot', 'Subject: x\r\n\r\nbody\r\n\u0000.\r\n' + SMUGGLED + '.\r\n'],
    ['vertical tab then dot', 'Subject: x\r\n\r\nbody\r\n\u000b.\r\n' + SMUGGLED + '.\r\n'],
    ['DEL and form feed then dot', 'Subject: x\r\n\r\nbody\r\n\u007f\u000c.\r\n' + SMUGGLED + '.\r\n'],
    ['a NUL anywhere', 'Subject: x\r\n\r\nbo\u0000dy\r\n.\r\n'],
  ])('%s: 554 5.6.0, nothing stored, nothing smuggled, the session goes on', async (_name, data) => {
    const before = await countMessages(t.pool);
    const c = await openTransaction();
    c.write(data);
    expect(await c.reply()).toBe(HIDDEN);
    expect(await countMessages(t.pool)).toBe(before);
    expect(await evilCount()).toBe(0);
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toBe('250 2.1.0 Accepted');
    c.close();
  });

  it('a tab before a dot, a sentence ending in ".", and a control octet inside a line are content', async () => {
    const c = await openTransaction();
    c.write('Subject: x\r\n\r\nThe end.\r\n\t.\r\nbell \u0007 here.\r\n.\r\n');
    expect(await c.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    c.close();
  });
});

describe('what a real terminator does', () => {
  it('dot-stuffed lines stay content, an unstuffed ".x" loses its dot; <CRLF>.<CRLF> ends DATA and the next command runs', async () => {
    const c = await openTransaction();
    c.write('..\r\n...\r\n.x\r\n..\r\n.\r\nNOOP\r\n');
    const reply = await c.reply();
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(await c.reply()).toBe('250 2.0.0 OK');
    const id = reply.split(' ').pop();
    const r = await t.pool.query('SELECT raw FROM messages WHERE id = $1', [id]);
    const raw = (r.rows[0].raw as Buffer).toString('latin1');
    // RFC 5321 §4.5.2: a line that starts with "." and has more on it loses the first dot,
    // "..x" → ".x" and an unstuffed ".x" → "x" (patches/smtp-server: before, ".x" was kept).
    expect(raw.slice(raw.indexOf('+0000\r\n') + 7)).toBe('.\r\n..\r\nx\r\n.\r\n');
    c.close();
  });

  it('an empty message ends at once', async () => {
    const c = await openTransaction();
    c.write('.\r\n');
    expect(await c.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    c.close();
  });
});
