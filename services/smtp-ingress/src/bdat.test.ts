// CHUNKING / BDAT and BINARYMIME (RFC 3030) over raw sockets: chunk octets are content,
// never commands, whatever the reply; the reply to LAST is the DATA step's (250 only after
// the commit); DATA and BDAT never mix in one transaction. patches/smtp-server@3.21.6.patch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@hopmail/test-kit';
import { checkedClients, SmtpClient, countMessages, startIngress, type TestIngress } from '../test/helpers.ts';

const MAX_SIZE = 65536;
let t: TestIngress;
const clients = checkedClients();

beforeAll(async () => {
  t = await startIngress({ env: { SMTP_MAX_MESSAGE_SIZE: String(MAX_SIZE) } });
});
afterAll(async () => {
  await t?.stop();
});

async function session(): Promise<SmtpClient> {
  const c = await SmtpClient.connect(t.port);
  clients.push(c);
  expect(await c.cmd('EHLO client.test')).toMatch(/^250-.*\n250-CHUNKING\n250 BINARYMIME$/s);
  return c;
}

async function transaction(mailParams = ''): Promise<SmtpClient> {
  const c = await session();
  expect(await c.cmd(`MAIL FROM:<a@remote.test>${mailParams}`)).toBe('250 2.1.0 Accepted');
  expect(await c.cmd('RCPT TO:<alice@example.org>')).toBe('250 2.1.5 Accepted');
  return c;
}

/** `BDAT <size>[ LAST]` and the chunk's octets, exactly. */
const bdat = (chunk: Buffer | string, last = false) => {
  const b = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
  return Buffer.concat([Buffer.from(`BDAT ${b.length}${last ? ' LAST' : ''}\r\n`), b]);
};

const queuedId = (reply: string) => /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply)?.[1];

/** The stored message without our Received: field. */
async function stored(id: string): Promise<{ body: Buffer; row: Record<string, unknown> }> {
  const r = await t.pool.query('SELECT raw, size, body_8bit, body_binary FROM messages WHERE id = $1', [id]);
  const raw = r.rows[0].raw as Buffer;
  const end = raw.indexOf('+0000\r\n') + 7;
  return { body: raw.subarray(end), row: r.rows[0] as Record<string, unknown> };
}

const HEAD = 'From: <a@remote.test>\r\nTo: <alice@example.org>\r\nSubject: chunks\r\nMessage-ID: <chunks@remote.test>\r\n\r\n';

describe('BDAT chunks (RFC 3030 §2)', () => {
  it('several chunks and LAST: 250 per chunk, then the queue id once committed; octets stored as sent, dots untouched', async () => {
    const c = await transaction();
    const parts = [HEAD + 'first line\r\n.x dot', 's are content\r\n..\r\n.\r\n', 'last line\r\n'];
    c.write(bdat(parts[0]!));
    expect(await c.reply()).toBe(`250 2.0.0 OK: ${parts[0]!.length} octets received`);
    c.write(bdat(parts[1]!));
    expect(await c.reply()).toBe(`250 2.0.0 OK: ${parts[1]!.length} octets received`);
    c.write(bdat(parts[2]!, true));
    const id = queuedId(await c.reply())!;
    // 250 means committed: the row is there when the reply is.
    const { body } = await stored(id);
    expect(body.toString('latin1')).toBe(parts.join(''));
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
  });

  it('a pipelined transaction: MAIL, RCPT, chunks and the next command in one write, chunks split across TCP segments', async () => {
    const c = await session();
    const body = HEAD + 'pipelined\r\n'.repeat(200);
    const wire = Buffer.concat([
      Buffer.from('MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\n'),
      bdat(body.slice(0, 1000)),
      bdat(body.slice(1000), true),
      Buffer.from('MAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.org>\r\n'),
      bdat(HEAD + 'second\r\n', true),
      Buffer.from('QUIT\r\n'),
    ]);
    // Odd-sized writes: a chunk's octets arrive in pieces, and pieces hold a chunk's end and a command.
    for (let i = 0; i < wire.length; i += 333) c.write(wire.subarray(i, i + 333));
    expect(await c.reply()).toBe('250 2.1.0 Accepted');
    expect(await c.reply()).toBe('250 2.1.5 Accepted');
    expect(await c.reply()).toBe('250 2.0.0 OK: 1000 octets received');
    const first = queuedId(await c.reply())!;
    expect(await c.reply()).toBe('250 2.1.0 Accepted');
    expect(await c.reply()).toBe('250 2.1.5 Accepted');
    const second = queuedId(await c.reply())!;
    expect(await c.reply()).toBe('221 2.0.0 Bye');
    expect((await stored(first)).body.toString('latin1')).toBe(body);
    expect((await stored(second)).body.toString('latin1')).toBe(HEAD + 'second\r\n');
  });

  it('BDAT 0 LAST ends a message whose octets came in earlier chunks', async () => {
    const c = await transaction();
    c.write(bdat(HEAD + 'zero last\r\n'));
    expect(await c.reply()).toMatch(/^250 2\.0\.0 OK: \d+ octets received$/);
    expect(await c.cmd('BDAT 0 LAST')).toMatch(/^250 2\.0\.0 Ok: queued as /);
  });

  it('every DATA check applies: a chunked message with a bare LF (no BINARYMIME) is 550 5.6.0, too many Received: is 554 5.4.6', async () => {
    const before = await countMessages(t.pool);
    const c = await transaction();
    c.write(bdat(HEAD + 'bare\nLF\r\n', true));
    expect(await c.reply()).toMatch(/^550 5\.6\.0 /);
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toBe('250 2.1.0 Accepted');
    expect(await c.cmd('RCPT TO:<alice@example.org>')).toBe('250 2.1.5 Accepted');
    const hops = Array.from({ length: 51 }, (_, i) => `Received: from hop${i}.test by hop${i + 1}.test; Sat, 28 Nov 2026 09:00:00 +0000\r\n`).join('');
    c.write(bdat(hops + HEAD + 'loop\r\n', true));
    expect(await c.reply()).toMatch(/^554 5\.4\.6 /);
    expect(await countMessages(t.pool)).toBe(before);
  });
});

describe('BODY=BINARYMIME (RFC 3030 §3)', () => {
  it('binary octets (NUL, bare CR and LF, "\\r\\n.\\r\\n", 8-bit) are stored exactly', async () => {
    const c = await transaction(' BODY=BINARYMIME');
    const binary = Buffer.from([0x00, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a, 0x0a, 0x2e, 0x0a, 0x0d, 0xff, 0x80, 0x00, 0x2e, 0x2e, 0x0d]);
    const body = Buffer.concat([Buffer.from('MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'), binary, binary]);
    c.write(bdat(body.subarray(0, 100)));
    expect(await c.reply()).toBe('250 2.0.0 OK: 100 octets received');
    c.write(bdat(body.subarray(100), true));
    const id = queuedId(await c.reply())!;
    const s = await stored(id);
    expect(s.body.equals(body)).toBe(true);
    expect(s.row.body_8bit).toBe(true);
    // Marked, so outbound-relay sends it only as BINARYMIME (or bounces it, 5.6.3).
    expect(s.row.body_binary).toBe(true);
  });

  it('DATA in a BINARYMIME transaction is 503 5.5.1, and so is a BDAT after it; RSET clears', async () => {
    const c = await transaction(' BODY=BINARYMIME');
    expect(await c.cmd('DATA')).toMatch(/^503 5\.5\.1 .*BINARYMIME requires BDAT/);
    c.write(bdat('Subject: x\r\n\r\nQUIT\r\n', true));
    expect(await c.reply()).toMatch(/^503 5\.5\.1 .*BDAT not allowed after DATA/);
    expect(await c.cmd('RSET')).toBe('250 2.0.0 Flushed');
    expect(await c.cmd('MAIL FROM:<a@remote.test> BODY=BINARYMIME')).toBe('250 2.1.0 Accepted');
    expect(await c.cmd('RCPT TO:<alice@example.org>')).toBe('250 2.1.5 Accepted');
    c.write(bdat(HEAD + 'after rset\r\n', true));
    expect(await c.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
  });
});

describe('bad input: each gets its reply, the chunk is read, the session stays in sync', () => {
  it.each(['BDAT', 'BDAT x', 'BDAT -1', 'BDAT 10 FIRST', 'BDAT 10 LAST MORE', 'BDAT 1234567890123456', 'BDAT 1e3'])('%s: 501 5.5.4', async (line) => {
    const c = await transaction();
    expect(await c.cmd(line)).toMatch(/^501 5\.5\.4 /);
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
  });

  it('BDAT without MAIL or RCPT: 503 5.5.1, the chunk (which looks like commands) is not run', async () => {
    const c = await session();
    c.write(bdat('QUIT\r\n'));
    expect(await c.reply()).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toBe('250 2.1.0 Accepted');
    c.write(bdat('RSET\r\nQUIT\r\n', true));
    expect(await c.reply()).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
  });

  it('DATA after a BDAT in the same transaction: 503 5.5.1, the BDAT transaction carries on', async () => {
    const c = await transaction();
    c.write(bdat(HEAD));
    expect(await c.reply()).toMatch(/^250 2\.0\.0 OK: /);
    expect(await c.cmd('DATA')).toMatch(/^503 5\.5\.1 .*DATA not allowed after BDAT/);
    c.write(bdat('mixed\r\n', true));
    const id = queuedId(await c.reply())!;
    expect((await stored(id)).body.toString('latin1')).toBe(HEAD + 'mixed\r\n');
  });

  it('a chunk larger than the message limit: 552 5.3.4 after its octets, nothing stored, next command runs', async () => {
    const before = await countMessages(t.pool);
    const c = await transaction();
    c.write(bdat(Buffer.alloc(MAX_SIZE + 1, 'Q\r\n'), true));
    expect(await c.reply()).toMatch(/^552 5\.3\.4 /);
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(await countMessages(t.pool)).toBe(before);
  });

  it('the limit counts across chunks: the chunk past it gets 552 5.3.4 and ends the transaction; pipelined chunks after it get 503 5.5.1', async () => {
    const before = await countMessages(t.pool);
    const c = await transaction();
    const half = Buffer.alloc(MAX_SIZE / 2, 'a\r\n');
    c.write(Buffer.concat([bdat(half), bdat(half), bdat(Buffer.from('NOOP\r\n')), bdat(Buffer.from('QUIT\r\n'), true), Buffer.from('NOOP\r\n')]));
    expect(await c.reply()).toBe(`250 2.0.0 OK: ${half.length} octets received`);
    expect(await c.reply()).toBe(`250 2.0.0 OK: ${half.length} octets received`);
    expect(await c.reply()).toMatch(/^552 5\.3\.4 /);
    expect(await c.reply()).toMatch(/^503 5\.5\.1 /);
    expect(await c.reply()).toBe('250 2.0.0 OK');
    expect(await countMessages(t.pool)).toBe(before);
  });

  it('RSET between chunks drops the transaction: nothing stored, a later BDAT is 503 5.5.1', async () => {
    const before = await countMessages(t.pool);
    const c = await transaction();
    c.write(bdat(HEAD + 'dropped\r\n'));
    expect(await c.reply()).toMatch(/^250 2\.0\.0 OK: /);
    expect(await c.cmd('RSET')).toBe('250 2.0.0 Flushed');
    c.write(bdat('more\r\n', true));
    expect(await c.reply()).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(await countMessages(t.pool)).toBe(before);
  });

  it('a connection lost between chunks or inside one stores nothing', async () => {
    const before = await countMessages(t.pool);
    const aborted = () => t.logs.filter((l) => l.event === 'smtp-ingress.message-aborted').length;
    const seen = aborted();
    const c = await transaction();
    c.write(bdat(HEAD));
    expect(await c.reply()).toMatch(/^250 2\.0\.0 OK: /);
    c.write('BDAT 100 LAST\r\nonly part of it');
    c.close();
    await waitFor(async () => aborted() > seen, { what: 'smtp-ingress.message-aborted' });
    expect(await countMessages(t.pool)).toBe(before);
  });
});
