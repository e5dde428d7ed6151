// Protocol transcripts over raw sockets against the service started in-process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGE_ID_RE } from '@hopmail/mail';
import { waitFor } from '@hopmail/test-kit';
import { checkedClients, HOSTNAME, SmtpClient, countMessages, sendMessage, simpleMessage, sleep, startIngress, type TestIngress } from '../test/helpers.ts';

const MAX_SIZE = 65536;
let t: TestIngress;
const clients = checkedClients();

async function client(): Promise<SmtpClient> {
  const c = await SmtpClient.connect(t.port);
  clients.push(c);
  return c;
}

async function ehlo(): Promise<SmtpClient> {
  const c = await client();
  expect(await c.cmd('EHLO client.test')).toMatch(/^250 /m);
  return c;
}

beforeAll(async () => {
  t = await startIngress({ env: { SMTP_MAX_MESSAGE_SIZE: String(MAX_SIZE) } });
});
afterAll(async () => {
  await t?.stop();
});

describe('greeting and EHLO', () => {
  it('greets with our host name and advertises exactly the extensions we implement', async () => {
    const c = await client();
    expect(c.received).toBe(`220 ${HOSTNAME} ESMTP Hopmail\r\n`);
    c.write('EHLO client.test\r\n');
    await c.reply();
    expect(c.received.slice(c.received.indexOf('\r\n') + 2)).toBe(
      [`250-${HOSTNAME} Hello [127.0.0.1]`, '250-PIPELINING', '250-8BITMIME', '250-SMTPUTF8', '250-ENHANCEDSTATUSCODES', '250-DSN', `250-SIZE ${MAX_SIZE}`, '250-CHUNKING', '250 BINARYMIME', ''].join('\r\n'),
    );
    expect(await c.cmd('HELO client.test')).toBe(`250 ${HOSTNAME} Hello [127.0.0.1]`);
    expect(await c.cmd('EHLO')).toMatch(/^501 5\.5\.4 /);
    expect(await c.cmd('AUTH PLAIN AGZvbwBiYXI=')).toMatch(/^500 5\.5\.2 /);
    expect(await c.cmd('STARTTLS')).toMatch(/^500 5\.5\.2 /);
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
    expect(await c.cmd('RSET')).toBe('250 2.0.0 Flushed');
    expect(await c.cmd('QUIT')).toBe('221 2.0.0 Bye');
    await c.waitClosed();
  });
});

describe('clients that do not wait', () => {
  it('with SMTP_GREETING_DELAY_MS, answers 421 4.7.0 to a client that talks before the greeting', async () => {
    const delayed = await startIngress({ db: t.db, env: { SMTP_MAX_MESSAGE_SIZE: String(MAX_SIZE), SMTP_GREETING_DELAY_MS: '300' } });
    try {
      const c = await SmtpClient.open(delayed.port);
      clients.push(c);
      c.write('EHLO early.test\r\n');
      expect(await c.reply()).toMatch(/^421 4\.7\.0 .*talk too soon/);
      await c.waitClosed();
    } finally {
      await delayed.stop();
    }
  });

  it('without a greeting delay (the default) the 220 comes at once: a client that writes right after connecting is served in order', async () => {
    const c = await SmtpClient.open(t.port);
    clients.push(c);
    c.write('EHLO quick.test\r\n');
    expect(await c.reply()).toBe(`220 ${HOSTNAME} ESMTP Hopmail`);
    expect(await c.reply()).toMatch(/^250[ -]/);
  });

  it('answers 421 4.7.0 to an HTTP request (cross-protocol attack from a browser)', async () => {
    const c = await client();
    expect(await c.cmd('POST / HTTP/1.1')).toMatch(/^421 4\.7\.0 /);
    await c.waitClosed();
  });
});

describe('command order (RFC 5321 §4.1.4)', () => {
  it('answers 503 5.5.1 to MAIL before EHLO, RCPT before MAIL, DATA before RCPT, nested MAIL', async () => {
    const c = await client();
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('EHLO client.test')).toMatch(/^250 /m);
    expect(await c.cmd('RCPT TO:<alice@example.org>')).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('DATA')).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toBe('250 2.1.0 Accepted');
    expect(await c.cmd('DATA')).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('FOO')).toMatch(/^500 5\.5\.2 /);
  });
});

describe('MAIL FROM', () => {
  it.each([
    ['MAIL FROM:<>', /^250 2\.1\.0 /],
    ['MAIL FROM:<a@remote.test> BODY=8BITMIME', /^250 2\.1\.0 /],
    ['MAIL FROM:<a@remote.test', /^501 5\.1\.7 /],
    ['MAIL FROM:a@remote.test', /^501 5\.1\.7 /],
    ['MAIL FROM:<a..b@remote.test>', /^501 5\.1\.7 /],
    ['MAIL FROM:<no-at-sign>', /^501 5\.1\.7 /],
    ['MAIL FROM:<a b@remote.test>', /^501 5\.1\.7 /],
    ['MAIL FROM:<jörg@remote.test>', /^553 5\.6\.7 /],
    ['MAIL FROM:<jörg@remote.test> SMTPUTF8', /^250 2\.1\.0 /],
    [`MAIL FROM:<a@remote.test> SIZE=${MAX_SIZE + 1}`, /^552 5\.3\.4 /],
    ['MAIL FROM:<a@remote.test> SIZE=abc', /^501 5\.5\.4 /],
  ])('%s', async (line, expected) => {
    const c = await ehlo();
    expect(await c.cmd(Buffer.from(line, 'utf8').toString('latin1'))).toMatch(expected);
  });
});

describe('RCPT TO', () => {
  it.each([
    ['alice@example.org', /^250 2\.1\.5 /],
    ['ALICE@Example.ORG', /^250 2\.1\.5 /],
    ['alice+news@example.org', /^250 2\.1\.5 /],
    ['team@example.org', /^250 2\.1\.5 /],
    ['postmaster', /^250 2\.1\.5 /],
    ['nobody@example.org', /^550 5\.1\.1 <nobody@example\.org>: Recipient address rejected: User unknown$/],
    ['loop1@example.org', /^550 5\.4\.6 /],
    ['someone@elsewhere.test', /^554 5\.7\.1 <someone@elsewhere\.test>: Relay access denied$/],
    ['x@relay.example', /^554 5\.7\.1 /],
    ['a..b@example.org', /^501 5\.1\.3 /],
    ['no-domain@', /^501 5\.1\.3 /],
    ['<a@example.org>', /^501 5\.1\.3 /],
  ])('%s', async (rcpt, expected) => {
    const c = await ehlo();
    await c.cmd('MAIL FROM:<a@remote.test>');
    expect(await c.cmd(`RCPT TO:<${rcpt}>`)).toMatch(expected);
  });

  it('accepts a repeated recipient once and stores one recipient row', async () => {
    const c = await ehlo();
    await c.cmd('MAIL FROM:<a@remote.test>');
    expect(await c.cmd('RCPT TO:<bob@example.org>')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<BOB@example.org>')).toMatch(/^250 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    c.write(simpleMessage('dup'));
    const id = /queued as (\S+)/.exec(await c.reply())![1];
    const r = await t.pool.query('SELECT address FROM recipients WHERE message_id = $1', [id]);
    expect(r.rows).toHaveLength(1);
  });

  it('accepts 100 recipients and answers 452 4.5.3 to the 101st; the message goes to the 100', async () => {
    const c = await ehlo();
    await c.cmd('MAIL FROM:<a@remote.test>');
    // Pipelined, as RFC 2920 clients do.
    c.write(Array.from({ length: 101 }, (_, i) => `RCPT TO:<alice+${i}@example.org>\r\n`).join(''));
    const replies: string[] = [];
    for (let i = 0; i < 101; i++) replies.push(await c.reply());
    expect(replies.slice(0, 100).every((r) => r === '250 2.1.5 Accepted')).toBe(true);
    expect(replies[100]).toMatch(/^452 4\.5\.3 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    c.write(simpleMessage('many'));
    const id = /queued as (\S+)/.exec(await c.reply())![1];
    const r = await t.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM recipients WHERE message_id = $1', [id]);
    expect(r.rows[0]!.n).toBe(100);
  });
});

describe('command line length (RFC 5321 §4.5.3.1.4)', () => {
  it('accepts 512 octets with CRLF, answers 500 5.5.2 to 513 and carries on', async () => {
    const c = await ehlo();
    expect(await c.cmd('NOOP ' + 'x'.repeat(505))).toBe('250 2.0.0 OK');
    expect(await c.cmd('NOOP ' + 'x'.repeat(506))).toBe('500 5.5.2 Line too long');
    // RCPT gets the room of RFC 3461's NOTIFY and ORCPT (dsn.test.ts), and no more.
    expect(await c.cmd(`RCPT TO:<${'a'.repeat(1100)}@example.org>`)).toBe('500 5.5.2 Line too long');
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toBe('250 2.1.0 Accepted');
  });

  it('answers 500 5.5.2 and then 421 4.7.0 to a line past the 16 KiB buffer, and closes', async () => {
    const c = await ehlo();
    c.write('NOOP ' + 'x'.repeat(20_000));
    expect(await c.reply()).toBe('500 5.5.2 Line too long');
    expect(await c.reply()).toMatch(/^421 4\.7\.0 /);
    await c.waitClosed();
  });
});

describe('bad commands', () => {
  it('does not count the 503s a pipelining client gets behind a refused MAIL', async () => {
    const c = await ehlo();
    c.write('MAIL FROM:<jörg@remote.test>\r\n' + 'RCPT TO:<alice@example.org>\r\n'.repeat(20) + 'DATA\r\n');
    expect(await c.reply()).toMatch(/^553 5\.6\.7 /);
    for (let i = 0; i < 21; i++) expect(await c.reply()).toMatch(/^503 5\.5\.1 /);
    expect(await c.cmd('NOOP')).toBe('250 2.0.0 OK');
  });

  it('closes with 421 4.7.0 after SMTP_MAX_BAD_COMMANDS syntax errors', async () => {
    const c = await ehlo();
    for (let i = 0; i < 9; i++) expect(await c.cmd('MAIL FROM:<broken')).toMatch(/^501 5\.1\.7 /);
    c.write('MAIL FROM:<broken\r\n');
    expect(await c.reply()).toMatch(/^501 5\.1\.7 /);
    expect(await c.reply()).toMatch(/^421 4\.7\.0 .*too many errors/);
    await c.waitClosed();
  });
});

describe('DATA', () => {
  it('prepends a Received: header naming the queue id and stores the bytes as sent', async () => {
    const c = await client();
    const msg = 'From: <a@remote.test>\r\nSubject: trace\r\nMessage-ID: <trace-1@remote.test>\r\n\r\n..leading dot\r\nline\r\n';
    const reply = await sendMessage(c, 'a@remote.test', ['alice@example.org'], msg + '.\r\n');
    const id = /^250 2\.0\.0 Ok: queued as (\S+)$/.exec(reply)![1]!;
    expect(id).toMatch(MESSAGE_ID_RE);
    const r = await t.pool.query('SELECT raw, size, mail_from, client_ip, client_helo, header_message_id, smtputf8, body_8bit FROM messages WHERE id = $1', [id]);
    const row = r.rows[0];
    const raw = (row.raw as Buffer).toString('latin1');
    expect(raw).toMatch(new RegExp(`^Received: from client\\.test \\(localhost \\[127\\.0\\.0\\.1\\]\\)|^Received: from client\\.test \\(\\[127\\.0\\.0\\.1\\]\\)`));
    expect(raw).toMatch(new RegExp(`^Received: from client\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby ${HOSTNAME.replace(/\./g, '\\.')} \\(Hopmail\\) with ESMTP id ${id}\\r\\n\\tfor <alice@example\\.org>; \\w{3}, \\d{1,2} \\w{3} \\d{4} \\d\\d:\\d\\d:\\d\\d \\+0000\\r\\n`));
    // Dot-stuffing undone (RFC 5321 §4.5.2), nothing else changed.
    expect(raw.slice(raw.indexOf('From: '))).toBe(msg.replace('..leading', '.leading'));
    expect(row.size).toBe((row.raw as Buffer).length);
    expect(row).toMatchObject({ mail_from: 'a@remote.test', client_ip: '127.0.0.1', client_helo: 'client.test', header_message_id: '<trace-1@remote.test>', smtputf8: false, body_8bit: false });
    const logged = t.logs.find((l) => l.event === 'smtp-ingress.message-accepted' && l.msgId === id);
    expect(logged).toMatchObject({ sessionId: expect.any(String), remoteIp: '127.0.0.1', size: msg.length - 1 });
  });

  it('records SMTPUTF8 and 8-bit bodies; a null sender is stored as empty', async () => {
    const c = await ehlo();
    expect(await c.cmd('MAIL FROM:<> SMTPUTF8 BODY=8BITMIME')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<carol@example.org>')).toMatch(/^250 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    c.write(Buffer.from('Subject: Grüße\r\n\r\nZürich\r\n.\r\n', 'utf8'));
    const id = /queued as (\S+)/.exec(await c.reply())![1];
    const r = await t.pool.query('SELECT raw, mail_from, smtputf8, body_8bit FROM messages WHERE id = $1', [id]);
    expect(r.rows[0]).toMatchObject({ mail_from: '', smtputf8: true, body_8bit: true });
    expect((r.rows[0].raw as Buffer).toString('utf8')).toContain('with UTF8SMTP id');
    expect((r.rows[0].raw as Buffer).toString('utf8')).toMatch(/Subject: Grüße\r\n\r\nZürich\r\n$/);
  });

  it('refuses a message with more than 50 Received: headers (554 5.4.6) and accepts one with 50', async () => {
    const hops = (n: number) => Array.from({ length: n }, (_, i) => `Received: from hop${i}.test by hop${i + 1}.test; Sat, 28 Nov 2026 09:00:00 +0000\r\n`).join('');
    const before = await countMessages(t.pool);
    const c = await client();
    expect(await sendMessage(c, 'a@remote.test', ['alice@example.org'], hops(51) + simpleMessage('loop'))).toMatch(/^554 5\.4\.6 /);
    expect(await countMessages(t.pool)).toBe(before);
    expect(await sendMessage(c, 'a@remote.test', ['alice@example.org'], hops(50) + simpleMessage('fifty'), false)).toMatch(/^250 /);
    expect(await countMessages(t.pool)).toBe(before + 1);
  });

  it('refuses an oversized message with 552 5.3.4, stores nothing, and the session goes on', async () => {
    const before = await countMessages(t.pool);
    const c = await client();
    const big = 'Subject: big\r\n\r\n' + ('y'.repeat(998) + '\r\n').repeat(70) + '.\r\n';
    expect(await sendMessage(c, 'a@remote.test', ['alice@example.org'], big)).toMatch(/^552 5\.3\.4 /);
    expect(await countMessages(t.pool)).toBe(before);
    // Exactly at the limit is fine.
    const head = 'Subject: exact\r\n\r\n';
    const exact = head + 'z'.repeat(MAX_SIZE - head.length - 2) + '\r\n';
    expect(exact.length).toBe(MAX_SIZE);
    expect(await sendMessage(c, 'a@remote.test', ['alice@example.org'], exact + '.\r\n', false)).toMatch(/^250 /);
    expect(await countMessages(t.pool)).toBe(before + 1);
  });

  it('stores nothing when the connection drops mid-DATA', async () => {
    const before = await countMessages(t.pool);
    const c = await ehlo();
    await c.cmd('MAIL FROM:<a@remote.test>');
    await c.cmd('RCPT TO:<alice@example.org>');
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    c.write('Subject: cut\r\n\r\npartial body\r\n');
    await sleep(50);
    c.close();
    await waitFor(async () => t.logs.some((l) => l.event === 'smtp-ingress.message-aborted'), { what: 'smtp-ingress.message-aborted' });
    await sleep(100);
    expect(await countMessages(t.pool)).toBe(before);
  });

  it('handles a pipelined transaction (RFC 2920) and a second message on the same connection', async () => {
    const c = await ehlo();
    c.write('MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\nDATA\r\n');
    expect(await c.reply()).toMatch(/^250 2\.1\.0 /);
    expect(await c.reply()).toMatch(/^250 2\.1\.5 /);
    expect(await c.reply()).toMatch(/^550 5\.1\.1 /);
    expect(await c.reply()).toMatch(/^354 /);
    c.write(simpleMessage('p1') + 'MAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n');
    expect(await c.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(await c.reply()).toMatch(/^250 2\.1\.0 /);
    expect(await c.reply()).toMatch(/^250 2\.1\.5 /);
    expect(await c.reply()).toMatch(/^354 /);
    c.write(simpleMessage('p2') + 'QUIT\r\n');
    expect(await c.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(await c.reply()).toBe('221 2.0.0 Bye');
  });
});
