import { describe, expect, it } from 'vitest';
import { COMMANDS_BY_STATE, Pop3Engine } from './engine.ts';
import { MemoryBackend, replay, TEST_OPTIONS, type MemoryMessage } from '../../test/memory-backend.ts';

const M1 = Buffer.from('From: a@x.org\r\nSubject: one\r\n\r\nline 1\r\n.dot line\r\n..two dots\r\n.\r\nlast\r\n');
const M2 = Buffer.from('Subject: two\r\n\r\nhello\r\n');
const M3 = Buffer.from('Subject: three\r\nX: y\r\n\r\na\r\nb\r\nc\r\n');

function backend(extra: MemoryMessage[] = []): MemoryBackend {
  const b = new MemoryBackend();
  b.addUser('alice@example.org', 'secret pw', [
    { uidl: 'u1', raw: M1 },
    { uidl: 'u2', raw: M2 },
    { uidl: 'u3', raw: M3 },
    ...extra,
  ]);
  b.addUser('empty@example.org', 'pw');
  return b;
}

const LOGIN = 'USER alice@example.org\r\nPASS secret pw\r\n';
const GREETING = '+OK Hopmail POP3 server ready\r\n';
const LOGGED_IN = '+OK send PASS\r\n+OK alice@example.org has 3 messages (' + (M1.length + M2.length + M3.length) + ' octets)\r\n';
const plain = (s: string) => Buffer.from(s).toString('base64');

/** Replies after the greeting and login. */
async function afterLogin(cmds: string, b = backend()) {
  const t = await replay(b, [LOGIN + cmds]);
  expect(t.output.startsWith(GREETING + LOGGED_IN)).toBe(true);
  return { ...t, rest: t.output.slice(GREETING.length + LOGGED_IN.length), backend: b };
}

/** Un-stuffs one multi-line body (RFC 1939 §3) starting right after the +OK line. */
function unstuff(s: string): { body: string; after: string } {
  const end = s.startsWith('.\r\n') ? 0 : s.indexOf('\r\n.\r\n') + 2;
  const body = s
    .slice(0, end)
    .split('\n')
    .map((l) => (l.startsWith('.') ? l.slice(1) : l))
    .join('\n');
  return { body, after: s.slice(end + 3) };
}

describe('greeting and CAPA (RFC 1939 §4, RFC 2449 §5)', () => {
  it('greets without an APOP timestamp', async () => {
    const t = await replay(backend(), []);
    expect(t.output).toBe(GREETING);
    expect(t.output).not.toMatch(/</);
  });

  it('lists capabilities in AUTHORIZATION, with USER and SASL PLAIN', async () => {
    const t = await replay(backend(), ['CAPA\r\n']);
    expect(t.output).toBe(
      GREETING + '+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\nIMPLEMENTATION Hopmail\r\n.\r\n',
    );
  });

  it('lists capabilities in TRANSACTION without the login mechanisms', async () => {
    const t = await afterLogin('capa\r\n');
    expect(t.rest).toBe('+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION Hopmail\r\n.\r\n');
  });

  it('omits USER and SASL and refuses them when plaintext auth is disabled', async () => {
    const t = await replay(backend(), ['CAPA\r\nUSER alice@example.org\r\nPASS secret pw\r\nAUTH PLAIN\r\n'], { allowPlaintextAuth: false });
    expect(t.output).toBe(
      GREETING +
        '+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION Hopmail\r\n.\r\n' +
        '-ERR [AUTH] plaintext authentication is disabled; use TLS on port 995\r\n'.repeat(3),
    );
  });
});

describe('USER/PASS (RFC 1939 §7)', () => {
  it('logs in and reports the maildrop', async () => {
    const t = await replay(backend(), [LOGIN]);
    expect(t.output).toBe(GREETING + LOGGED_IN);
    expect(t.events).toContainEqual({ event: 'pop3.auth.succeeded', user: 'alice@example.org', mechanism: 'USER', messages: 3 });
  });

  it('gives the same reply for an unknown user and a wrong password, after a delay', async () => {
    const b = backend();
    const unknown = await replay(b, ['USER bob@example.org\r\nPASS x\r\n']);
    const wrong = await replay(b, ['USER alice@example.org\r\nPASS x\r\n']);
    expect(unknown.output).toBe(GREETING + '+OK send PASS\r\n-ERR [AUTH] invalid user name or password\r\n');
    expect(wrong.output).toBe(unknown.output);
    expect(unknown.delays).toEqual([100]);
    expect(b.authCalls).toBe(2);
  });

  it('grows the delay and closes after maxAuthFailures', async () => {
    const t = await replay(backend(), ['USER a\r\nPASS 1\r\nUSER a\r\nPASS 2\r\nUSER a\r\nPASS 3\r\nUSER a\r\n']);
    expect(t.delays).toEqual([100, 200, 300]);
    expect(t.closed).toBe(true);
    expect(t.output.endsWith('-ERR [AUTH] invalid user name or password; too many failures, closing connection\r\n')).toBe(true);
    expect(t.events).toContainEqual({ event: 'pop3.session.too-many-failures' });
  });

  it('wants USER immediately before PASS', async () => {
    const t = await replay(backend(), ['PASS secret pw\r\nUSER alice@example.org\r\nCAPA\r\nPASS secret pw\r\n']);
    expect(t.output).toMatch(/^\+OK.*\r\n-ERR send USER first\r\n\+OK send PASS\r\n\+OK Capability[^]*\.\r\n-ERR send USER first\r\n$/);
  });

  it('checks argument counts', async () => {
    const t = await replay(backend(), ['USER\r\nUSER a b\r\nPASS\r\n']);
    expect(t.output).toBe(GREETING + '-ERR wrong number of arguments for USER\r\n'.repeat(2) + '-ERR wrong number of arguments for PASS\r\n');
  });

  it('answers [SYS/TEMP] when the credential store fails, without counting a failure', async () => {
    const b = backend();
    b.failAuth = true;
    const t = await replay(b, ['USER a\r\nPASS b\r\nUSER a\r\nPASS b\r\nUSER a\r\nPASS b\r\nNOOP\r\n']);
    expect(t.output).toBe(GREETING + '+OK send PASS\r\n-ERR [SYS/TEMP] authentication temporarily unavailable\r\n'.repeat(3) + '-ERR command not valid in this state\r\n');
    expect(t.closed).toBe(false);
  });

  it('answers [IN-USE] to a second session and lets it in after the first ends', async () => {
    const b = backend();
    const { Pop3Engine } = await import('./engine.ts');
    const first = new Pop3Engine(b, TEST_OPTIONS, '192.0.2.1');
    for await (const _ of first.receive(Buffer.from(LOGIN)));
    expect(first.state.kind).toBe('transaction');
    const second = await replay(b, [LOGIN]);
    expect(second.output).toBe(GREETING + '+OK send PASS\r\n-ERR [IN-USE] maildrop already locked by another session\r\n');
    await first.dispose();
    expect((await replay(b, [LOGIN])).output).toBe(GREETING + LOGGED_IN);
  });

  it('answers [SYS/TEMP] when the maildrop cannot be opened', async () => {
    const b = backend();
    b.failOpen = true;
    const t = await replay(b, [LOGIN]);
    expect(t.output).toBe(GREETING + '+OK send PASS\r\n-ERR [SYS/TEMP] maildrop temporarily unavailable\r\n');
  });
});

describe('AUTH PLAIN (RFC 5034, RFC 4616)', () => {
  const ok = `+OK alice@example.org has 3 messages (${M1.length + M2.length + M3.length} octets)\r\n`;
  it('accepts an initial response', async () => {
    const t = await replay(backend(), [`AUTH PLAIN ${plain('\0alice@example.org\0secret pw')}\r\n`]);
    expect(t.output).toBe(GREETING + ok);
    expect(t.events).toContainEqual(expect.objectContaining({ event: 'pop3.auth.succeeded', mechanism: 'PLAIN' }));
  });
  it('accepts a response after the "+ " continuation', async () => {
    const t = await replay(backend(), ['auth plain\r\n', `${plain('\0alice@example.org\0secret pw')}\r\n`]);
    expect(t.output).toBe(GREETING + '+ \r\n' + ok);
  });
  it('accepts authzid equal to authcid and refuses any other', async () => {
    const same = await replay(backend(), [`AUTH PLAIN ${plain('alice@example.org\0alice@example.org\0secret pw')}\r\n`]);
    expect(same.output).toBe(GREETING + ok);
    const other = await replay(backend(), [`AUTH PLAIN ${plain('bob@example.org\0alice@example.org\0secret pw')}\r\n`]);
    expect(other.output).toBe(GREETING + '-ERR [AUTH] authorization identity not permitted\r\n');
    expect(other.events).toContainEqual(expect.objectContaining({ event: 'pop3.auth.failed', reason: 'authzid' }));
  });
  it('cancels on "*"', async () => {
    const t = await replay(backend(), ['AUTH PLAIN\r\n*\r\nNOOP\r\n']);
    expect(t.output).toBe(GREETING + '+ \r\n-ERR authentication cancelled\r\n-ERR command not valid in this state\r\n');
  });
  it('fails a wrong password like USER/PASS', async () => {
    const t = await replay(backend(), [`AUTH PLAIN ${plain('\0alice@example.org\0nope')}\r\n`]);
    expect(t.output).toBe(GREETING + '-ERR [AUTH] invalid user name or password\r\n');
    expect(t.delays).toEqual([100]);
  });
  it('rejects malformed responses', async () => {
    const t = await replay(backend(), [
      'AUTH PLAIN !!!!\r\n',
      'AUTH PLAIN =\r\n',
      `AUTH PLAIN ${plain('no-nuls')}\r\n`,
      `AUTH PLAIN ${plain('\0a\0b\0c')}\r\n`,
      `AUTH PLAIN ${plain('\0\0pw')}\r\n`,
      'AUTH PLAIN\r\n',
      'abc\r\n',
      'AUTH CRAM-MD5\r\n',
      'AUTH\r\n',
    ]);
    expect(t.output).toBe(
      GREETING +
        '-ERR malformed SASL response (not base64)\r\n' +
        '-ERR malformed SASL PLAIN message\r\n'.repeat(4) +
        '+ \r\n-ERR malformed SASL response (not base64)\r\n' +
        '-ERR unsupported authentication mechanism\r\n' +
        '-ERR wrong number of arguments for AUTH\r\n',
    );
  });
  it('takes a SASL response longer than the command limit, up to maxAuthLineOctets', async () => {
    const long = plain('\0alice@example.org\0' + 'p'.repeat(400));
    const t = await replay(backend(), ['AUTH PLAIN\r\n', long + '\r\n', 'AUTH PLAIN\r\n', 'A'.repeat(1100) + '\r\n', 'QUIT\r\n']);
    expect(t.output).toBe(GREETING + '+ \r\n-ERR [AUTH] invalid user name or password\r\n+ \r\n-ERR line too long\r\n+OK Hopmail POP3 server signing off\r\n');
  });
});

describe('state guards (command table)', () => {
  it('refuses every TRANSACTION command in AUTHORIZATION', async () => {
    const onlyTx = COMMANDS_BY_STATE.transaction.filter((c) => !COMMANDS_BY_STATE.authorization.includes(c));
    expect(onlyTx.sort()).toEqual(['DELE', 'LIST', 'NOOP', 'RETR', 'RSET', 'STAT', 'TOP', 'UIDL']);
    const t = await replay(backend(), [onlyTx.map((c) => c + '\r\n').join('')]);
    expect(t.output).toBe(GREETING + '-ERR command not valid in this state\r\n'.repeat(onlyTx.length));
  });
  it('refuses every AUTHORIZATION-only command in TRANSACTION', async () => {
    const onlyAuth = COMMANDS_BY_STATE.authorization.filter((c) => !COMMANDS_BY_STATE.transaction.includes(c));
    expect(onlyAuth.sort()).toEqual(['AUTH', 'PASS', 'STLS', 'USER']);
    // RFC 2595 §4: STLS only in AUTHORIZATION.
    const t = await afterLogin('USER x\r\nPASS y\r\nAUTH PLAIN\r\nSTLS\r\n', backend());
    expect(t.rest).toBe('-ERR command not valid in this state\r\n'.repeat(4));
  });
  it('answers unknown commands and closes after maxBadCommands', async () => {
    const t = await replay(backend(), ['APOP a b\r\n\r\nSTARTTLS\r\nXYZZY1\r\n', 'FOO\r\nNOOP\r\n']);
    expect(t.output).toBe(GREETING + '-ERR unknown command\r\n'.repeat(4) + '-ERR unknown command; too many bad commands, closing connection\r\n');
    expect(t.closed).toBe(true);
  });
  it('rejects arguments over 40 characters (except user names) and doubled spaces', async () => {
    const t = await afterLogin(`LIST ${'1'.repeat(41)}\r\nLIST  1\r\n`);
    expect(t.rest).toBe('-ERR argument too long\r\n-ERR malformed command\r\n');
    const user = await replay(backend(), [`USER ${'a'.repeat(60)}@example.org\r\n`]);
    expect(user.output).toBe(GREETING + '+OK send PASS\r\n');
  });
});

describe('line length (RFC 2449 §4)', () => {
  it('accepts 255 octets including CRLF and refuses 256', async () => {
    const ok255 = 'NOOP ' + 'x'.repeat(248); // 253 + CRLF
    const bad256 = 'NOOP ' + 'x'.repeat(249);
    const t = await replay(backend(), [`${ok255}\r\n${bad256}\r\nQUIT\r\n`]);
    expect(t.output).toBe(GREETING + '-ERR command not valid in this state\r\n-ERR line too long\r\n+OK Hopmail POP3 server signing off\r\n');
  });
  it('discards the whole overlong line, even when it arrives in pieces without an LF', async () => {
    const t = await replay(backend(), ['USER ' + 'a'.repeat(300), 'b'.repeat(300), 'PASS x\r\nQUIT\r\n']);
    expect(t.output).toBe(GREETING + '-ERR line too long\r\n+OK Hopmail POP3 server signing off\r\n');
  });
  it('accepts bare LF line ends', async () => {
    const t = await replay(backend(), ['CAPA\nQUIT\n']);
    expect(t.output).toMatch(/IMPLEMENTATION Hopmail\r\n\.\r\n\+OK Hopmail POP3 server signing off\r\n$/);
  });
});

describe('TRANSACTION commands (RFC 1939 §5, §7)', () => {
  const sizes = [M1.length, M2.length, M3.length];
  const total = sizes.reduce((a, b) => a + b, 0);

  it('STAT, LIST and LIST n', async () => {
    const t = await afterLogin('STAT\r\nLIST\r\nLIST 2\r\nLIST 0\r\nLIST 4\r\nLIST x\r\nLIST 1 2\r\nLIST -1\r\n');
    expect(t.rest).toBe(
      `+OK 3 ${total}\r\n` +
        `+OK 3 messages (${total} octets)\r\n1 ${sizes[0]}\r\n2 ${sizes[1]}\r\n3 ${sizes[2]}\r\n.\r\n` +
        `+OK 2 ${sizes[1]}\r\n` +
        '-ERR no such message\r\n-ERR no such message\r\n-ERR invalid message number\r\n-ERR wrong number of arguments for LIST\r\n-ERR invalid message number\r\n',
    );
  });

  it('RETR returns the stored bytes exactly, dot lines stuffed', async () => {
    const t = await afterLogin('RETR 1\r\nRETR 9\r\nRETR\r\n');
    expect(t.rest.startsWith(`+OK ${M1.length} octets\r\n`)).toBe(true);
    const body = t.rest.slice(`+OK ${M1.length} octets\r\n`.length);
    expect(body).toContain('\r\n..dot line\r\n...two dots\r\n..\r\nlast\r\n.\r\n');
    const { body: raw, after } = unstuff(body);
    expect(raw).toBe(M1.toString());
    expect(after).toBe('-ERR no such message\r\n-ERR wrong number of arguments for RETR\r\n');
  });

  it('DELE marks; deleted messages cannot be listed, read or deleted again; RSET unmarks', async () => {
    const t = await afterLogin('DELE 2\r\nDELE 2\r\nLIST 2\r\nRETR 2\r\nTOP 2 0\r\nUIDL 2\r\nSTAT\r\nLIST\r\nUIDL\r\nRSET\r\nSTAT\r\n');
    expect(t.rest).toBe(
      '+OK message 2 deleted\r\n' +
        '-ERR message 2 already deleted\r\n'.repeat(5) +
        `+OK 2 ${sizes[0]! + sizes[2]!}\r\n` +
        `+OK 2 messages (${sizes[0]! + sizes[2]!} octets)\r\n1 ${sizes[0]}\r\n3 ${sizes[2]}\r\n.\r\n` +
        '+OK unique-id listing follows\r\n1 u1\r\n3 u3\r\n.\r\n' +
        `+OK maildrop has 3 messages (${total} octets)\r\n` +
        `+OK 3 ${total}\r\n`,
    );
  });

  it.each(['LIST', 'RETR', 'DELE', 'UIDL', 'TOP'])('%s with a bad message number', async (cmd) => {
    const k = cmd === 'TOP' ? ' 1' : '';
    const t = await afterLogin(['0', '4', '99999999999', 'x', '1x', '+1', '-1', '1.0'].map((n) => `${cmd} ${n}${k}\r\n`).join(''));
    expect(t.rest).toBe(
      '-ERR no such message\r\n'.repeat(2) + '-ERR invalid message number\r\n'.repeat(6),
    );
  });

  it('NOOP', async () => {
    expect((await afterLogin('NOOP\r\nNOOP x\r\n')).rest).toBe('+OK\r\n-ERR wrong number of arguments for NOOP\r\n');
  });

  it('TOP sends the header, the blank line and k body lines', async () => {
    const t = await afterLogin('TOP 3 0\r\nTOP 3 2\r\nTOP 3 99\r\nTOP 1 3\r\nTOP 3\r\nTOP 3 x\r\nTOP 3 -1\r\n');
    const parts: string[] = [];
    let rest = t.rest;
    for (let i = 0; i < 4; i++) {
      expect(rest.startsWith('+OK top of message follows\r\n')).toBe(true);
      const u = unstuff(rest.slice('+OK top of message follows\r\n'.length));
      parts.push(u.body);
      rest = u.after;
    }
    expect(parts).toEqual([
      'Subject: three\r\nX: y\r\n\r\n',
      'Subject: three\r\nX: y\r\n\r\na\r\nb\r\n',
      M3.toString(),
      'From: a@x.org\r\nSubject: one\r\n\r\nline 1\r\n.dot line\r\n..two dots\r\n',
    ]);
    expect(rest).toBe('-ERR wrong number of arguments for TOP\r\n-ERR invalid number of lines\r\n-ERR invalid number of lines\r\n');
  });

  it('UIDL and UIDL n', async () => {
    const t = await afterLogin('UIDL\r\nUIDL 3\r\nUIDL 4\r\n');
    expect(t.rest).toBe('+OK unique-id listing follows\r\n1 u1\r\n2 u2\r\n3 u3\r\n.\r\n+OK 3 u3\r\n-ERR no such message\r\n');
  });

  it('an empty maildrop', async () => {
    const t = await replay(backend(), ['USER empty@example.org\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nQUIT\r\n']);
    expect(t.output).toBe(
      GREETING +
        '+OK send PASS\r\n+OK empty@example.org has 0 messages (0 octets)\r\n+OK 0 0\r\n+OK 0 messages (0 octets)\r\n.\r\n' +
        '+OK unique-id listing follows\r\n.\r\n-ERR no such message\r\n+OK Hopmail POP3 server signing off (maildrop empty)\r\n',
    );
  });
});

describe('UPDATE (RFC 1939 §6)', () => {
  it('QUIT removes the deleted messages and releases the lock', async () => {
    const t = await afterLogin('DELE 1\r\nDELE 3\r\nQUIT\r\nNOOP\r\n');
    expect(t.rest).toBe('+OK message 1 deleted\r\n+OK message 3 deleted\r\n+OK Hopmail POP3 server signing off (1 message left)\r\n');
    expect(t.closed).toBe(true);
    expect(t.backend.boxes.get('1')!.map((m) => m.uidl)).toEqual(['u2']);
    expect(t.backend.locks.size).toBe(0);
    expect(t.events).toContainEqual({ event: 'pop3.update.done', user: 'alice@example.org', deleted: 2, left: 1 });
  });

  it('a dropped connection deletes nothing', async () => {
    const t = await afterLogin('DELE 1\r\nDELE 2\r\n');
    expect(t.closed).toBe(false);
    expect(t.backend.boxes.get('1')!).toHaveLength(3);
    expect(t.backend.locks.size).toBe(0);
  });

  it('autologout deletes nothing', async () => {
    const b = backend();
    const e = new Pop3Engine(b, TEST_OPTIONS, '192.0.2.1');
    for await (const _ of e.receive(Buffer.from(LOGIN + 'DELE 1\r\n')));
    const actions = e.autologout();
    expect(actions[0]).toEqual({ type: 'write', data: Buffer.from('-ERR autologout; idle for too long\r\n') });
    expect(actions[1]).toEqual({ type: 'close' });
    await e.dispose();
    expect(b.boxes.get('1')!).toHaveLength(3);
    expect(b.locks.size).toBe(0);
  });

  it('a failed commit answers -ERR [SYS/TEMP] and deletes nothing', async () => {
    const b = backend();
    b.failCommit = true;
    const t = await afterLogin('DELE 1\r\nQUIT\r\n', b);
    expect(t.rest).toBe('+OK message 1 deleted\r\n-ERR [SYS/TEMP] some deleted messages not removed\r\n');
    expect(b.boxes.get('1')!).toHaveLength(3);
    expect(b.locks.size).toBe(0);
  });

  it('QUIT without deletions', async () => {
    const t = await afterLogin('QUIT\r\n');
    expect(t.rest).toBe('+OK Hopmail POP3 server signing off (3 messages left)\r\n');
  });
});

describe('storage failures while reading', () => {
  it('answers -ERR [SYS/TEMP] when the first chunk fails', async () => {
    const b = backend();
    b.failReadAfterChunks = 0;
    const t = await afterLogin('RETR 1\r\nNOOP\r\n', b);
    expect(t.rest).toBe('-ERR [SYS/TEMP] cannot read message now\r\n+OK\r\n');
  });
  it('answers -ERR [SYS/TEMP] when a later chunk fails before anything was sent', async () => {
    const b = backend();
    b.failReadAfterChunks = 2;
    const t = await afterLogin('RETR 1\r\nNOOP\r\n', b);
    expect(t.rest).toBe('-ERR [SYS/TEMP] cannot read message now\r\n+OK\r\n');
    expect(t.events).toContainEqual(expect.objectContaining({ event: 'pop3.read.failed', midStream: false }));
  });
  it('closes the connection when a read fails once part of the message is out, deleting nothing', async () => {
    const b = backend();
    b.chunkSize = 10_000;
    const big = Buffer.from('Subject: big\r\n\r\n' + 'x'.repeat(40_000) + '\r\n');
    b.addUser('big@example.org', 'pw', [{ uidl: 'b', raw: big }, { uidl: 'c', raw: M2 }]);
    b.failReadAfterChunks = 2;
    const t = await replay(b, ['USER big@example.org\r\nPASS pw\r\nDELE 2\r\nRETR 1\r\nNOOP\r\n']);
    expect(t.closed).toBe(true);
    expect(t.output).toBe(
      GREETING + '+OK send PASS\r\n+OK big@example.org has 2 messages (' + (big.length + M2.length) + ' octets)\r\n+OK message 2 deleted\r\n' +
        `+OK ${big.length} octets\r\n` + big.subarray(0, 20_000).toString(),
    );
    expect(t.events).toContainEqual(expect.objectContaining({ event: 'pop3.read.failed', midStream: true }));
    expect(b.boxes.get('3')!).toHaveLength(2);
  });
});

describe('pipelining and packet boundaries (RFC 2449 §6.6)', () => {
  const session = [
    'CAPA',
    'USER alice@example.org',
    'PASS wrong',
    'AUTH PLAIN',
    plain('\0alice@example.org\0secret pw'),
    'STAT',
    'LIST',
    'UIDL 2',
    'RETR 1',
    'TOP 3 1',
    'DELE 1',
    'RETR 1',
    'RSET',
    'DELE 2',
    'NOOP',
    'QUIT',
  ].join('\r\n') + '\r\n';

  it('one write with every command gives the same answers as one command per write', async () => {
    const together = await replay(backend(), [session]);
    const apart = await replay(backend(), session.split(/(?<=\r\n)/));
    expect(together.output).toBe(apart.output);
    expect(together.output.endsWith('+OK Hopmail POP3 server signing off (2 messages left)\r\n')).toBe(true);
  });

  it('the same session split at every byte offset gives the same bytes', async () => {
    const expected = (await replay(backend(), [session])).output;
    const bytes = Buffer.from(session);
    for (let i = 1; i < bytes.length; i++) {
      const b = backend();
      const t = await replay(b, [bytes.subarray(0, i), bytes.subarray(i)]);
      expect(t.output, `split at ${i}`).toBe(expected);
      expect(b.boxes.get('1')!.map((m) => m.uidl)).toEqual(['u1', 'u3']);
    }
    const byteByByte = await replay(backend(), [...bytes].map((x) => Buffer.from([x])));
    expect(byteByByte.output).toBe(expected);
  });
});

/** Messages with lines that start with dots, where stuffing and chunk boundaries meet; no bare CR or LF. */
const DOT_LINES = [
  '.\r\n',
  '..\r\n.\r\n.',
  'Subject: x\r\n\r\n.\r\n\r\n.\r\n',
  'a\r\n.b\r\n..c\r\n...\r\n',
  'no final newline',
  '\r\n\r\n.\r\n',
];

describe('byte stuffing across chunk boundaries', () => {
  it('round-trips awkward messages at every chunk size', async () => {
    const messages = DOT_LINES.map((s) => Buffer.from(s));
    for (const raw of messages) {
      for (let chunk = 1; chunk <= raw.length + 1; chunk++) {
        const b = new MemoryBackend();
        b.chunkSize = chunk;
        b.addUser('u', 'p', [{ uidl: 'x', raw }]);
        const t = await replay(b, ['USER u\r\nPASS p\r\nRETR 1\r\n']);
        const after = t.output.split(`+OK ${raw.length} octets\r\n`)[1]!;
        const { body, after: tail } = unstuff(after);
        const expected = raw.toString().endsWith('\r\n') ? raw.toString() : raw.toString() + '\r\n';
        expect(body, `${JSON.stringify(raw.toString())} chunk ${chunk}`).toBe(expected);
        expect(tail).toBe('');
      }
    }
  });
});

describe('line endings on the wire: CRLF only', () => {
  it('bare LF and bare CR in a stored message leave as CRLF, stuffed, at every chunk size; no bare LF is ever sent', async () => {
    const cases: [string, string][] = [
      ['bare\n.lf\n', 'bare\r\n..lf\r\n'],
      ['a\rb\r\nc\n\nd', 'a\r\nb\r\nc\r\n\r\nd\r\n'],
      ['ends in cr\r', 'ends in cr\r\n'],
      ['\n.\n', '\r\n..\r\n'],
      ['cr then dot\r.x\r\n', 'cr then dot\r\n..x\r\n'],
    ];
    for (const [stored, wire] of cases) {
      const raw = Buffer.from(stored);
      for (let chunk = 1; chunk <= raw.length + 1; chunk++) {
        const b = new MemoryBackend();
        b.chunkSize = chunk;
        b.addUser('u', 'p', [{ uidl: 'x', raw }]);
        const t = await replay(b, ['USER u\r\nPASS p\r\nRETR 1\r\n']);
        const after = t.output.split(`+OK ${raw.length} octets\r\n`)[1]!;
        expect(after, `${JSON.stringify(stored)} chunk ${chunk}`).toBe(wire + '.\r\n');
        expect(/(^|[^\r])\n/.test(t.output), 'a bare LF was sent').toBe(false);
        expect(/\r(?!\n)/.test(t.output), 'a bare CR was sent').toBe(false);
      }
    }
  });
});

describe('messages already in memory (read ahead)', () => {
  it('RETR and TOP send exactly what streaming sends, for every awkward message, in one write', async () => {
    const messages = [
      M1,
      ...DOT_LINES,
      'bare\n.lf\n',
      'a\rb\r\nc\n\nd',
      'ends in cr\r',
      'cr then dot\r.x\r\n',
      '',
      'H: 1\r\n\r\nb1\r\n.b2\r\nb3',
    ]
      .map((m) => Buffer.from(m))
      .concat(Buffer.from([0x53, 0x3a, 0x20, 0xe9, 0x0d, 0x0a, 0x0d, 0x0a, 0x2e, 0xff, 0x80, 0x0d, 0x0a, 0x00, 0x2e, 0x0d, 0x0a])); // 8-bit, a NUL, dots
    const commands = ['RETR 1', 'TOP 1 0', 'TOP 1 1', 'TOP 1 2', 'TOP 1 100', 'RETR 1'].map((c) => c + '\r\n').join('');
    for (const raw of messages) {
      const run = async (inMemory: boolean) => {
        const b = new MemoryBackend();
        b.chunkSize = 3;
        b.inMemory = inMemory;
        b.addUser('u', 'p', [{ uidl: 'x', raw }]);
        return replay(b, ['USER u\r\nPASS p\r\n' + commands]);
      };
      const [streamed, fromMemory] = [await run(false), await run(true)];
      expect(fromMemory.output, JSON.stringify(raw.toString())).toBe(streamed.output);
    }
  });

  it('a small message in memory is one write: status line, stuffed body, terminator', async () => {
    const b = new MemoryBackend();
    b.inMemory = true;
    b.addUser('u', 'p', [{ uidl: 'x', raw: M1 }]);
    const engine = new Pop3Engine(b, TEST_OPTIONS, '192.0.2.1');
    for await (const _ of engine.receive(Buffer.from('USER u\r\nPASS p\r\n')));
    const actions = [];
    for await (const a of engine.receive(Buffer.from('RETR 1\r\n'))) actions.push(a);
    expect(actions).toEqual([{ type: 'write', data: Buffer.from(`+OK ${M1.length} octets\r\n` + M1.toString().replace(/^\./gm, '..') + '.\r\n') }]);
    await engine.dispose();
  });
});

describe('RETR answered at once (answerNow, prepareNext: the listener\'s fast path)', () => {
  const BARE_LF = Buffer.from('Subject: bare\n\n.dot after a bare LF\nend\r\n');
  function box(inMemory = true) {
    const b = backend([{ uidl: 'u4', raw: BARE_LF }]);
    b.inMemory = inMemory;
    return b;
  }
  /** The same packets through receive() alone and the way the listener feeds them. */
  async function both(packets: string[], inMemory = true) {
    const slow = await replay(box(inMemory), [LOGIN, ...packets]);
    const fast = await replay(box(inMemory), [LOGIN, ...packets], {}, { listener: true });
    expect(fast.output).toBe(slow.output);
    expect(fast.events).toEqual(slow.events);
    return fast;
  }

  it('answers a lone RETR of a message in memory with the bytes receive() gives, the next one built ahead', async () => {
    const t = await both(['RETR 1\r\n', 'RETR 2\r\n', 'retr 3\n', 'RETR 2\r\n', 'RETR 01\r\n', 'TOP 1 1\r\n', 'RETR 2\r\n', 'QUIT\r\n']);
    expect(t.answeredNow).toBe(6);
    const { body } = unstuff(t.output.slice(t.output.indexOf('octets\r\n') + 8));
    expect(body).toBe(M1.toString());
  });

  it('leaves every other chunk to receive(), and takes none of its bytes', async () => {
    const t = await both([
      'RETR 1\r\nRETR 2\r\n', // two commands in one chunk
      'RE',
      'TR 3\r\n', // a command split across chunks
      'RETR 9\r\n', // no such message
      'DELE 2\r\n',
      'RETR 2\r\n', // deleted
      'RETR  1\r\n',
      'RETR 1 \r\n',
      'NOOP',
      'RETR 1\r\n', // ends the line 'NOOPRETR 1'
      'RETR 1\r', // no LF yet
      '\n',
      'RETR 4\r\n', // a bare LF in the stored message: receive() normalises it
      'LIST 1\r\n',
      `RETR ${'1'.repeat(300)}\r\n`, // over the command limit
      'QUIT\r\n',
    ]);
    expect(t.answeredNow).toBe(0);
    expect(t.output).toContain('-ERR message 2 already deleted\r\n');
    expect(t.output).toContain('From: a@x.org');
    expect(t.output).toContain('Subject: bare\r\n\r\n..dot after a bare LF\r\nend\r\n.\r\n');
  });

  it('answers nothing before login, nor a message that is not in memory', async () => {
    const before = await replay(box(), ['RETR 1\r\n', LOGIN], {}, { listener: true });
    expect(before.answeredNow).toBe(0);
    expect(before.output).toContain('-ERR command not valid in this state\r\n');
    const streamed = await both(['RETR 1\r\n', 'RETR 2\r\n'], false);
    expect(streamed.answeredNow).toBe(0);
  });

  it('prepareNext builds nothing past the last message, for a deleted one, or before a RETR', async () => {
    const b = box();
    const engine = new Pop3Engine(b, TEST_OPTIONS, '192.0.2.1');
    for await (const _ of engine.receive(Buffer.from(LOGIN)));
    engine.prepareNext(); // nothing retrieved yet: nothing to build
    expect(engine.answerNow(Buffer.from('RETR 4\r\n'))).toBeNull(); // bare LF: receive() answers
    for await (const _ of engine.receive(Buffer.from('RETR 4\r\n')));
    engine.prepareNext(); // past the last message
    const r1 = engine.answerNow(Buffer.from('RETR 1\r\n'))!;
    expect(r1.toString('latin1')).toBe(`+OK ${M1.length} octets\r\n` + M1.toString().replace(/^\./gm, '..') + '.\r\n');
    engine.prepareNext(); // builds message 2's reply
    for await (const _ of engine.receive(Buffer.from('DELE 2\r\n')));
    expect(engine.answerNow(Buffer.from('RETR 2\r\n'))).toBeNull(); // deleted since: receive() says so
    engine.prepareNext();
    expect(engine.answerNow(Buffer.from('RETR 3\r\n'))!.toString('latin1')).toBe(`+OK ${M3.length} octets\r\n${M3.toString()}.\r\n`);
    await engine.dispose();
    expect(engine.answerNow(Buffer.from('RETR 1\r\n'))).toBeNull(); // closed
  });
});

describe('STLS (RFC 2595 §4) and plaintext-login refusal', () => {
  const TLS_OPTS = { stls: true, allowPlaintextAuth: false };
  const CAPS_HEAD = '+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n';
  const BEGIN = '+OK Begin TLS negotiation\r\n';
  const REFUSED = '-ERR [AUTH] plaintext authentication is disabled; use STLS first (or port 995)\r\n';

  it('lists STLS but neither USER nor SASL before TLS, and refuses USER, PASS and AUTH with [AUTH]', async () => {
    const t = await replay(backend(), ['CAPA\r\nUSER alice@example.org\r\nPASS secret pw\r\nAUTH PLAIN ' + plain('\0alice@example.org\0secret pw') + '\r\nAUTH PLAIN\r\n'], TLS_OPTS);
    expect(t.output).toBe(GREETING + CAPS_HEAD + 'STLS\r\nIMPLEMENTATION Hopmail\r\n.\r\n' + REFUSED.repeat(4));
    expect(t.events).toEqual([]); // no login was even attempted
  });

  it('after STLS: CAPA drops STLS and lists USER and SASL PLAIN; logins work', async () => {
    const t = await replay(backend(), ['STLS\r\n', 'CAPA\r\n' + LOGIN + 'STAT\r\n'], TLS_OPTS);
    expect(t.tlsAt).toEqual([GREETING.length + BEGIN.length]);
    expect(t.output).toBe(
      GREETING + BEGIN + CAPS_HEAD + 'USER\r\nSASL PLAIN\r\nIMPLEMENTATION Hopmail\r\n.\r\n' + LOGGED_IN + `+OK 3 ${M1.length + M2.length + M3.length}\r\n`,
    );
  });

  it('discards everything pipelined after STLS in the same packet: nothing of it runs inside TLS', async () => {
    const injected = 'USER alice@example.org\r\nPASS secret pw\r\n';
    const t = await replay(backend(), ['STLS\r\n' + injected, 'STAT\r\n'], TLS_OPTS);
    expect(t.output).toBe(GREETING + BEGIN + '-ERR command not valid in this state\r\n');
    expect(t.events).toEqual([{ event: 'pop3.tls.stls', discarded: injected.length }]);
    // The same with the injection not even ending in CRLF.
    // A partial line is not joined to what comes after the handshake.
    const u = await replay(backend(), ['STLS\r\nUSER alice@example.org\r\nCA', 'PA\r\nCAPA\r\n'], TLS_OPTS);
    expect(u.output).toBe(GREETING + BEGIN + '-ERR unknown command\r\n' + CAPS_HEAD + 'USER\r\nSASL PLAIN\r\nIMPLEMENTATION Hopmail\r\n.\r\n');
  });

  it('reads nothing between STLS and the end of the handshake', async () => {
    const e = new Pop3Engine(backend(), { ...TEST_OPTIONS, ...TLS_OPTS }, '192.0.2.1');
    const drain = async (chunk: string) => {
      const out: string[] = [];
      for await (const a of e.receive(Buffer.from(chunk))) out.push(a.type === 'write' ? a.data.toString() : `<${a.type}>`);
      return out.join('');
    };
    expect(await drain('STLS\r\n')).toBe('<event>' + BEGIN + '<starttls>');
    expect(await drain('USER alice@example.org\r\nPASS secret pw\r\n')).toBe('');
    e.tlsStarted();
    expect(e.secure).toBe(true);
    expect(await drain('PASS secret pw\r\nNOOP\r\n')).toBe('-ERR send USER first\r\n-ERR command not valid in this state\r\n');
    await e.dispose();
  });

  it('resets the session: a USER given before STLS is forgotten', async () => {
    const t = await replay(backend(), ['USER alice@example.org\r\nSTLS\r\n', 'PASS secret pw\r\n'], { stls: true, allowPlaintextAuth: true });
    expect(t.output).toBe(GREETING + '+OK send PASS\r\n' + BEGIN + '-ERR send USER first\r\n');
  });

  it('refuses a second STLS, and STLS on the implicit-TLS port', async () => {
    const t = await replay(backend(), ['STLS\r\n', 'STLS\r\nCAPA\r\n'], TLS_OPTS);
    expect(t.tlsAt).toHaveLength(1);
    expect(t.output).toBe(GREETING + BEGIN + '-ERR command not permitted when TLS active\r\n' + CAPS_HEAD + 'USER\r\nSASL PLAIN\r\nIMPLEMENTATION Hopmail\r\n.\r\n');
    const s = await replay(backend(), ['CAPA\r\nSTLS\r\n' + LOGIN], { ...TLS_OPTS, stls: false }, { secure: true });
    expect(s.tlsAt).toEqual([]);
    expect(s.output).toBe(GREETING + CAPS_HEAD + 'USER\r\nSASL PLAIN\r\nIMPLEMENTATION Hopmail\r\n.\r\n' + '-ERR command not permitted when TLS active\r\n' + LOGGED_IN);
  });

  it('refuses STLS without a certificate, with arguments, and in TRANSACTION', async () => {
    const t = await replay(backend(), ['STLS\r\nSTLS now\r\n'], { stls: false, allowPlaintextAuth: false });
    expect(t.output).toBe(GREETING + '-ERR STLS not available (no certificate configured)\r\n-ERR wrong number of arguments for STLS\r\n');
    const tx = await replay(backend(), [LOGIN + 'STLS\r\nCAPA\r\n'], { stls: true, allowPlaintextAuth: true });
    expect(tx.output).toBe(GREETING + LOGGED_IN + '-ERR command not valid in this state\r\n' + CAPS_HEAD + 'IMPLEMENTATION Hopmail\r\n.\r\n');
  });

  it('gives the same transcript however the bytes up to STLS are split', async () => {
    const pre = 'CAPA\r\nNOOP\r\nSTLS\r\n';
    const whole = await replay(backend(), [pre, 'CAPA\r\n'], TLS_OPTS);
    for (let i = 1; i < pre.length; i++) {
      const t = await replay(backend(), [pre.slice(0, i), pre.slice(i), 'CAPA\r\n'], TLS_OPTS);
      expect(t.output, `split at ${i}`).toBe(whole.output);
      expect(t.tlsAt).toEqual(whole.tlsAt);
    }
  });

  it('keeps the failed-login count across STLS (it is ours, not the client’s)', async () => {
    const bad = 'USER alice@example.org\r\nPASS wrong\r\n';
    const t = await replay(backend(), [bad + bad + 'STLS\r\n', bad], { stls: true, allowPlaintextAuth: true });
    expect(t.closed).toBe(true);
    expect(t.output.endsWith('-ERR [AUTH] invalid user name or password; too many failures, closing connection\r\n')).toBe(true);
  });
});
