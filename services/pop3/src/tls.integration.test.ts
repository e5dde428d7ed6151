// STLS (RFC 2595) on the plain port, implicit TLS (RFC 8314) on the POP3S port, the refusal
// of plaintext logins, certificate rotation, and TLS clients nobody here wrote (Python's
// poplib, curl, openssl s_client), against the app on real sockets, PostgreSQL and Redis.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { ensureDevCertificate } from '@hopmail/tls';
import { baseUrls, createTestDatabase, redisPrefix, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { deliver, RawClient, seedMailbox, startTestApp, writeCertificate, type TestApp } from '../test/support.ts';

let db: TestDatabase;
let dir: string;
let a: TestApp;
let env: Record<string, string>;
const logs: Record<string, unknown>[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), 'hopmail-pop3-tls-'));
  const { certFile, keyFile } = writeCertificate(dir);
  env = {
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: redisPrefix(),
    AUTH_FAILURE_DELAY_MS: '0',
    RETR_CHUNK_BYTES: '1024',
    POP3S_PORT: '0',
    TLS_CERT_FILE: certFile,
    TLS_KEY_FILE: keyFile,
    TLS_RELOAD_POLL_MS: '0',
    TLS_HANDSHAKE_TIMEOUT_MS: '2000',
    // ALLOW_PLAINTEXT_AUTH is left at its default (false) on purpose.
  };
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) logs.push(JSON.parse(l));
      cb();
    },
  });
  a = await startTestApp(env, pino({ level: 'debug' }, sink));
});

afterAll(async () => {
  await a?.stop();
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function mailbox(messages: Buffer[] = []): Promise<{ id: string; address: string; ids: string[] }> {
  const address = `tls${++n}@example.org`;
  const id = await seedMailbox(db.pool, address, 'pw ' + n);
  const ids: string[] = [];
  for (const m of messages) ids.push(await deliver(db.pool, id, address, m));
  return { id, address, ids };
}
const pw = (address: string) => 'pw ' + address.match(/^tls(\d+)@/)![1];

async function rows(mailboxId: string): Promise<string[]> {
  const r = await db.pool.query<{ message_id: string }>('SELECT message_id::text FROM mailbox_messages WHERE mailbox_id = $1 ORDER BY id', [mailboxId]);
  return r.rows.map((x) => x.message_id);
}

const DOTS = Buffer.from('From: a@example.net\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n.\r\n');
const BOUNDARY = Buffer.concat([Buffer.from('Subject: boundary\r\n\r\n'), Buffer.alloc(1024 - 21 - 2, 'x'), Buffer.from('\r\n.at boundary\r\n\r\n.\r\n')]);
const BINARY = Buffer.concat([Buffer.from('Subject: 8bit\r\n\r\n'), Buffer.from([0xff, 0x00, 0xe9, 0x0d, 0x0a, 0x2e, 0x2e, 0x0d, 0x0a])]);

const REFUSED = '-ERR [AUTH] plaintext authentication is disabled; use STLS first (or port 995)';

/** USER/PASS on a session whose greeting was already read (there is none after STLS). */
async function auth(c: RawClient, user: string, pass: string): Promise<string> {
  expect(await c.cmd(`USER ${user}`)).toBe('+OK send PASS');
  return c.cmd(`PASS ${pass}`);
}

async function caps(c: RawClient): Promise<string[]> {
  expect(await c.cmd('CAPA')).toBe('+OK Capability list follows');
  return (await c.body()).toString().trimEnd().split('\r\n');
}

/** Connects to the plain port, reads the greeting, sends STLS and completes the handshake. */
async function stls(): Promise<RawClient> {
  const c = await RawClient.connect(a.app.port);
  await c.line();
  expect(await c.cmd('STLS')).toBe('+OK Begin TLS negotiation');
  await c.startTls();
  return c;
}

describe('before TLS on the plain port', () => {
  it('CAPA lists STLS and neither USER nor SASL; USER, PASS and AUTH get -ERR [AUTH] and are not tried', async () => {
    const box = await mailbox();
    const c = await RawClient.connect(a.app.port);
    expect(await c.line()).toBe('+OK Hopmail POP3 server ready');
    const list = await caps(c);
    expect(list).toContain('STLS');
    expect(list.filter((l) => /^(USER|SASL)/.test(l))).toEqual([]);
    const before = logs.length;
    expect(await c.cmd(`USER ${box.address}`)).toBe(REFUSED);
    expect(await c.cmd(`PASS ${pw(box.address)}`)).toBe(REFUSED);
    expect(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${box.address}\0${pw(box.address)}`).toString('base64')}`)).toBe(REFUSED);
    expect(await c.cmd('AUTH PLAIN')).toBe(REFUSED);
    expect(logs.slice(before).filter((l) => String(l.event).startsWith('pop3.auth.'))).toEqual([]);
    // The session goes on: STLS still works after the refusals.
    expect(await c.cmd('STLS')).toBe('+OK Begin TLS negotiation');
    await c.startTls();
    expect(await auth(c, box.address, pw(box.address))).toBe(`+OK ${box.address} has 0 messages (0 octets)`);
    c.close();
  });
});

describe('STLS (RFC 2595)', () => {
  it('after STLS: TLS 1.2+, CAPA without STLS and with USER/SASL PLAIN, login, RETR byte for byte', async () => {
    const box = await mailbox([DOTS, BINARY]);
    const c = await stls();
    expect(['TLSv1.2', 'TLSv1.3']).toContain(c.tls!.getProtocol());
    const list = await caps(c);
    expect(list).not.toContain('STLS');
    expect(list).toEqual(expect.arrayContaining(['USER', 'SASL PLAIN']));
    expect(await c.cmd(`USER ${box.address}`)).toBe('+OK send PASS');
    expect(await c.cmd(`PASS ${pw(box.address)}`)).toBe(`+OK ${box.address} has 2 messages (${DOTS.length + BINARY.length} octets)`);
    expect(await c.cmd('RETR 2')).toBe(`+OK ${BINARY.length} octets`);
    expect((await c.body()).equals(BINARY)).toBe(true);
    expect(await c.cmd('QUIT')).toMatch(/^\+OK/);
    await c.closed();
  });

  it('`STLS\\r\\nUSER x\\r\\nPASS y\\r\\n` in one write: nothing of it is executed inside TLS', async () => {
    const box = await mailbox([DOTS]);
    for (const tail of ['\r\n', '']) {
      const c = await RawClient.connect(a.app.port);
      await c.line();
      const before = logs.length;
      c.send(`STLS\r\nUSER ${box.address}\r\nPASS ${pw(box.address)}${tail}`);
      expect(await c.line()).toBe('+OK Begin TLS negotiation');
      await c.startTls();
      // Not logged in: the injected USER/PASS never ran, before or after the handshake.
      expect(await c.cmd('STAT')).toBe('-ERR command not valid in this state');
      expect(await c.cmd(`PASS ${pw(box.address)}`)).toBe('-ERR send USER first');
      expect(logs.slice(before).filter((l) => String(l.event).startsWith('pop3.auth.'))).toEqual([]);
      expect(logs.slice(before)).toContainEqual(expect.objectContaining({ event: 'pop3.tls.stls', discarded: `USER ${box.address}\r\nPASS ${pw(box.address)}${tail}`.length }));
      c.close();
    }
    // The maildrop is not locked by some hidden session.
    const d = await stls();
    expect(await auth(d, box.address, pw(box.address))).toBe(`+OK ${box.address} has 1 message (${DOTS.length} octets)`);
    d.close();
  });

  it('plaintext sent in a later packet, before the handshake, is dropped or kills the handshake; never executed', async () => {
    const box = await mailbox([DOTS]);
    const c = await RawClient.connect(a.app.port);
    await c.line();
    const before = logs.length;
    c.send('STLS\r\n');
    c.socket.write(`USER ${box.address}\r\nPASS ${pw(box.address)}\r\n`);
    expect(await c.line()).toBe('+OK Begin TLS negotiation');
    const outcome = await c.startTls().then(
      async () => c.cmd('STAT'),
      () => 'handshake failed',
    );
    expect(['-ERR command not valid in this state', 'handshake failed']).toContain(outcome);
    expect(logs.slice(before).filter((l) => String(l.event).startsWith('pop3.auth.'))).toEqual([]);
    c.close();
  });

  it('refuses a second STLS inside TLS, and the session goes on', async () => {
    const c = await stls();
    expect(await c.cmd('STLS')).toBe('-ERR command not permitted when TLS active');
    expect(await c.cmd('NOOP')).toBe('-ERR command not valid in this state');
    expect(await c.cmd('QUIT')).toBe('+OK Hopmail POP3 server signing off');
    await c.closed();
  });

  it('a failed handshake after STLS closes the connection and is logged', async () => {
    const c = await RawClient.connect(a.app.port);
    await c.line();
    expect(await c.cmd('STLS')).toBe('+OK Begin TLS negotiation');
    const before = logs.length;
    c.send('USER not-a-client-hello\r\n');
    await c.closed();
    await waitFor(async () => logs.slice(before).find((l) => l.event === 'pop3.tls.handshake-failed'), { what: 'handshake failure logged' });
  });
});

describe('implicit TLS on the POP3S port', () => {
  it('greets inside TLS, CAPA without STLS, logs in with USER/PASS and AUTH PLAIN, refuses STLS', async () => {
    expect(a.app.tlsPort).toBeGreaterThan(0);
    const box = await mailbox([DOTS, BOUNDARY]);
    const c = await RawClient.connectTls(a.app.tlsPort!);
    expect(await c.line()).toBe('+OK Hopmail POP3 server ready');
    const list = await caps(c);
    expect(list).not.toContain('STLS');
    expect(list).toEqual(expect.arrayContaining(['USER', 'SASL PLAIN']));
    expect(await c.cmd('STLS')).toBe('-ERR command not permitted when TLS active');
    expect(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${box.address}\0${pw(box.address)}`).toString('base64')}`)).toMatch(/^\+OK .* has 2 messages/);
    expect(await c.cmd('RETR 2')).toBe(`+OK ${BOUNDARY.length} octets`);
    expect((await c.body()).equals(BOUNDARY)).toBe(true);
    expect(await c.cmd('DELE 1')).toBe('+OK message 1 deleted');
    expect(await c.cmd('QUIT')).toBe('+OK Hopmail POP3 server signing off (1 message left)');
    await c.closed();
    expect(await rows(box.id)).toEqual(box.ids.slice(1));
  });

  it('refuses TLS 1.1 and closes a plaintext client without answering in clear', async () => {
    await expect(
      new Promise((resolve, reject) => {
        const s = tlsConnect({ port: a.app.tlsPort!, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
        s.once('secureConnect', () => resolve(s.destroy()));
        s.once('error', reject);
      }),
    ).rejects.toThrow();
    const c = await RawClient.connect(a.app.tlsPort!);
    c.send('CAPA\r\n');
    await c.closed();
    await expect(c.line()).rejects.toThrow(/connection closed; have ""/);
  });
});

describe('limits and shutdown over TLS', () => {
  it('a client that never completes the handshake is closed after TLS_HANDSHAKE_TIMEOUT_MS, on 995 and after STLS', async () => {
    const before = logs.length;
    const silent = await RawClient.connect(a.app.tlsPort!);
    const afterStls = await RawClient.connect(a.app.port);
    await afterStls.line();
    expect(await afterStls.cmd('STLS')).toBe('+OK Begin TLS negotiation');
    const t0 = Date.now();
    await Promise.all([silent.closed(), afterStls.closed()]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_500);
    const failed = logs.slice(before).filter((l) => l.event === 'pop3.tls.handshake-failed');
    expect(failed.map((l) => [l.how, l.reason]).sort()).toEqual([['implicit', 'timeout'], ['stls', 'timeout']]);
  });

  it('connection limits count both ports; over the limit, 995 closes without a byte in clear', async () => {
    const r = await startTestApp({ ...env, MAX_CONNECTIONS_PER_IP: '2' });
    try {
      const one = await RawClient.connect(r.app.port);
      const two = await RawClient.connectTls(r.app.tlsPort!);
      expect(await one.line()).toMatch(/^\+OK/);
      expect(await two.line()).toMatch(/^\+OK/);
      const third = await RawClient.connect(r.app.tlsPort!);
      await third.closed();
      await expect(third.line()).rejects.toThrow(/connection closed; have ""/);
      const fourth = await RawClient.connect(r.app.port);
      expect(await fourth.line()).toBe('-ERR [SYS/TEMP] too many connections');
      one.close();
      two.close();
    } finally {
      await r.stop();
    }
  });

  it('autologout and shutdown reach sessions inside TLS, in TLS', async () => {
    const r = await startTestApp({ ...env, IDLE_TIMEOUT_MS: '1000' });
    try {
      const box = await mailbox([DOTS]);
      const idle = await RawClient.connectTls(r.app.tlsPort!);
      expect(await idle.login(box.address, pw(box.address))).toMatch(/^\+OK/);
      expect(await idle.line()).toBe('-ERR autologout; idle for too long');
      await idle.closed();
      expect(await rows(box.id)).toEqual(box.ids);
      const c = await RawClient.connect(r.app.port);
      await c.line();
      expect(await c.cmd('STLS')).toBe('+OK Begin TLS negotiation');
      await c.startTls();
      const stopping = r.stop();
      expect(await c.line()).toBe('-ERR [SYS/TEMP] server shutting down');
      await stopping;
    } finally {
      await r.stop().catch(() => {});
    }
  });

  it('TLS_SNI_CERTS: a client asking for another name gets its certificate, on both ports', async () => {
    const sniDir = mkdtempSync(join(tmpdir(), 'hopmail-pop3-sni-'));
    const other = writeCertificate(sniDir, ['pop.other.test']);
    const r = await startTestApp({ ...env, TLS_SNI_CERTS: `pop.other.test=${other.certFile}:${other.keyFile}` });
    try {
      const implicit = await RawClient.connectTls(r.app.tlsPort!, 'pop.other.test');
      expect(implicit.tls!.getPeerX509Certificate()!.subject).toBe('CN=pop.other.test');
      implicit.close();
      const c = await RawClient.connect(r.app.port);
      await c.line();
      expect(await c.cmd('STLS')).toBe('+OK Begin TLS negotiation');
      const tls = await c.startTls('pop.other.test');
      expect(tls.getPeerX509Certificate()!.subject).toBe('CN=pop.other.test');
      c.close();
      const plain = await RawClient.connectTls(r.app.tlsPort!);
      expect(plain.tls!.getPeerX509Certificate()!.subject).toBe('CN=localhost');
      plain.close();
    } finally {
      await r.stop();
      rmSync(sniDir, { recursive: true, force: true });
    }
  });
});

describe('certificate rotation', () => {
  it('new connections on both ports get the new certificate; sessions in progress continue', async () => {
    const box1 = await mailbox([DOTS]);
    const box2 = await mailbox([BINARY]);
    const s1 = await stls();
    expect(await auth(s1, box1.address, pw(box1.address))).toMatch(/^\+OK/);
    const s2 = await RawClient.connectTls(a.app.tlsPort!);
    expect(await s2.login(box2.address, pw(box2.address))).toMatch(/^\+OK/);
    const oldFp = s2.tls!.getPeerX509Certificate()!.fingerprint256;
    expect(s1.tls!.getPeerX509Certificate()!.fingerprint256).toBe(oldFp);

    writeCertificate(dir, ['localhost', '127.0.0.1', 'rotated.test']);
    expect(a.app.certificates!.reload('test')).toBe(true);

    const fresh = await RawClient.connectTls(a.app.tlsPort!);
    const peer = fresh.tls!.getPeerX509Certificate()!;
    const newFp = peer.fingerprint256;
    expect(newFp).not.toBe(oldFp);
    expect(peer.subjectAltName).toContain('DNS:rotated.test');
    fresh.close();
    const freshStls = await stls();
    expect(freshStls.tls!.getPeerX509Certificate()!.fingerprint256).toBe(newFp);
    freshStls.close();

    // Both sessions from before the rotation carry on, on the old certificate.
    expect(await s1.cmd('RETR 1')).toBe(`+OK ${DOTS.length} octets`);
    expect((await s1.body()).equals(DOTS)).toBe(true);
    expect(await s2.cmd('RETR 1')).toBe(`+OK ${BINARY.length} octets`);
    expect((await s2.body()).equals(BINARY)).toBe(true);
    expect(await s1.cmd('QUIT')).toMatch(/^\+OK/);
    expect(await s2.cmd('QUIT')).toMatch(/^\+OK/);
  });

  it('picks up renewed files by itself (file watch), without a restart', async () => {
    const before = a.app.certificates!.info()[0]!.fingerprint;
    // The app's store watches the folder; TLS_RELOAD_POLL_MS=0 leaves only the watch.
    writeCertificate(dir, ['localhost', '127.0.0.1', 'watched.test']);
    const fp = await waitFor(
      async () => {
        const c = await RawClient.connectTls(a.app.tlsPort!);
        const f = c.tls!.getPeerX509Certificate()!.fingerprint256;
        c.close();
        return f !== before ? f : null;
      },
      { what: 'renewed certificate served' },
    );
    expect(fp).toBe(a.app.certificates!.info()[0]!.fingerprint);
  });
});

function run(cmd: string, args: string[], input?: string): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout!.on('data', (d: Buffer) => out.push(d));
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    if (input !== undefined) p.stdin!.end(input);
  });
}

const POPLIB = `
import poplib, json, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
mode, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
if mode == 'stls':
    p = poplib.POP3('127.0.0.1', port, timeout=10)
    out['caps_before'] = sorted(p.capa().keys())
    try:
        p.user(user)
        out['user_before'] = 'accepted'
    except poplib.error_proto as e:
        out['user_before'] = e.args[0].decode()
    out['stls'] = p.stls(ctx).decode()
else:
    p = poplib.POP3_SSL('127.0.0.1', port, context=ctx, timeout=10)
out['tls'] = p.sock.version()
out['caps'] = sorted(p.capa().keys())
p.user(user); p.pass_(password)
count, size = p.stat()
out.update({'count': count, 'size': size, 'uidl': [x.decode() for x in p.uidl()[1]], 'msgs': []})
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    out['msgs'].append((b'\\r\\n'.join(lines) + b'\\r\\n').hex())
out['top'] = (b'\\r\\n'.join(p.top(1, 0)[1])).hex()
p.dele(1)
out['quit'] = p.quit().decode()
print(json.dumps(out))
`;

describe('clients nobody here wrote', () => {
  it.each(['stls', 'ssl'])("Python's poplib (%s) lists, reads byte for byte, deletes and quits", async (mode) => {
    const box = await mailbox([DOTS, BOUNDARY, BINARY]);
    const port = mode === 'stls' ? a.app.port : a.app.tlsPort!;
    const r = await run('python3', ['-c', POPLIB, mode, String(port), box.address, pw(box.address)]);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.toString());
    if (mode === 'stls') {
      expect(out.caps_before).toContain('STLS');
      expect(out.caps_before).not.toContain('USER');
      expect(out.caps_before).not.toContain('SASL');
      expect(out.user_before).toBe(REFUSED);
      expect(out.stls).toBe('+OK Begin TLS negotiation');
    }
    expect(['TLSv1.2', 'TLSv1.3']).toContain(out.tls);
    expect(out.caps).toEqual(expect.arrayContaining(['UIDL', 'TOP', 'USER', 'SASL', 'PIPELINING', 'RESP-CODES', 'IMPLEMENTATION']));
    expect(out.caps).not.toContain('STLS');
    expect(out.count).toBe(3);
    expect(out.size).toBe(DOTS.length + BOUNDARY.length + BINARY.length);
    expect(out.uidl).toEqual(box.ids.map((id, i) => `${i + 1} ${id}`));
    expect(out.msgs.map((h: string) => Buffer.from(h, 'hex'))).toEqual([DOTS, BOUNDARY, BINARY]);
    expect(Buffer.from(out.top, 'hex').toString()).toBe('From: a@example.net\r\nSubject: dots\r\n');
    expect(out.quit).toBe('+OK Hopmail POP3 server signing off (2 messages left)');
    expect(await rows(box.id)).toEqual(box.ids.slice(1));
  });

  it('curl: pop3s:// and pop3:// --ssl-reqd (STLS) list and retrieve byte for byte, USER and AUTH PLAIN', async () => {
    const box = await mailbox([DOTS, BOUNDARY]);
    const user = encodeURIComponent(box.address);
    const pass = encodeURIComponent(pw(box.address));
    for (const [scheme, port, extra] of [
      ['pop3s', a.app.tlsPort!, []],
      ['pop3', a.app.port, ['--ssl-reqd']],
    ] as const) {
      const list = await run('curl', ['-sS', '-k', '--max-time', '10', ...extra, `${scheme}://${user}:${pass}@127.0.0.1:${port}/`]);
      expect(list.stderr).toBe('');
      expect(list.stdout.toString()).toBe(`1 ${DOTS.length}\r\n2 ${BOUNDARY.length}\r\n`);
      for (const [i, m] of [DOTS, BOUNDARY].entries()) {
        for (const mech of [[], ['--login-options', 'AUTH=PLAIN']]) {
          const r = await run('curl', ['-sS', '-k', '--max-time', '10', ...extra, ...mech, `${scheme}://${user}:${pass}@127.0.0.1:${port}/${i + 1}`]);
          expect(r.stderr).toBe('');
          expect(r.stdout.equals(m), `${scheme} message ${i + 1}: ${JSON.stringify(r.stdout.toString())}`).toBe(true);
        }
      }
    }
    // Without TLS curl cannot log in: the server lists no mechanism it could use.
    const clear = await run('curl', ['-sS', '--max-time', '10', `pop3://${user}:${pass}@127.0.0.1:${a.app.port}/`]);
    expect(clear.code).not.toBe(0);
  });

  it('openssl s_client -starttls pop3 and plain s_client on the POP3S port', async () => {
    const box = await mailbox([DOTS]);
    const script = `CAPA\r\nUSER ${box.address}\r\nPASS ${pw(box.address)}\r\nSTAT\r\nQUIT\r\n`;
    for (const args of [
      ['-starttls', 'pop3', '-connect', `127.0.0.1:${a.app.port}`],
      ['-connect', `127.0.0.1:${a.app.tlsPort}`],
    ]) {
      const r = await run('openssl', ['s_client', '-quiet', '-ign_eof', '-verify_quiet', ...args], script);
      const out = r.stdout.toString();
      expect(out, out).toContain(`+OK ${box.address} has 1 message (${DOTS.length} octets)`);
      expect(out).toContain(`+OK 1 ${DOTS.length}`);
      expect(out).toContain('+OK Hopmail POP3 server signing off');
      expect(out).not.toContain('STLS\r\n');
    }
  });
});

describe('the README first steps', () => {
  it("the root README's POP3 command works against a development certificate (as `pnpm start` makes)", async () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const commands = readme.split('\n').filter((l) => /^curl .*pop3s?:\/\//.test(l));
    expect(commands.length).toBeGreaterThan(0);
    const devDir = mkdtempSync(join(tmpdir(), 'hopmail-pop3-dev-'));
    const devDb = await createTestDatabase();
    // What `pnpm start` does in development: a self-signed pair in the state folder, the
    // services pointed at it, ALLOW_PLAINTEXT_AUTH left alone (false).
    const pair = ensureDevCertificate(devDir);
    const dev = await startTestApp({ ...env, DATABASE_URL: devDb.url, TLS_CERT_FILE: pair.certFile, TLS_KEY_FILE: pair.keyFile });
    try {
      const id = await seedMailbox(devDb.pool, 'alice@example.org', 'a long passphrase');
      const message = Buffer.from('From: bob@example.org\r\nSubject: hello\r\n\r\nfirst steps\r\n');
      await deliver(devDb.pool, id, 'alice@example.org', message);
      for (const command of commands) {
        // Only the ports differ: the test's listeners are on free ports, not 1110/1995.
        const m = /^curl (.*) '?(pop3s?):\/\/localhost:(\d+)(\/\S*)'? -u '([^']*)'$/.exec(command);
        expect(m, `README line not in the expected shape: ${command}`).not.toBeNull();
        const [, flags, scheme, readmePort, path, credentials] = m!;
        expect([scheme === 'pop3s' ? '1995' : '1110']).toContain(readmePort);
        const port = scheme === 'pop3s' ? dev.app.tlsPort! : dev.app.port;
        const r = await run('curl', [...flags!.split(' '), '--max-time', '10', `${scheme}://localhost:${port}${path}`, '-u', credentials!]);
        expect(r.stdout.equals(message), `${command}: ${JSON.stringify(r.stdout.toString())} ${r.stderr}`).toBe(true);
      }
    } finally {
      await dev.stop();
      await devDb.drop();
      rmSync(devDir, { recursive: true, force: true });
    }
  });
});

describe('configuration', () => {
  const main = new URL('./main.ts', import.meta.url).pathname;
  const start = (extra: Record<string, string>, args: string[] = []) =>
    new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const p = spawn(process.execPath, [main, ...args], {
        env: { PATH: process.env.PATH ?? '', ...env, POP3_PORT: '0', HEALTH_PORT: '0', LOG_LEVEL: 'info', TLS_CERT_FILE: '', TLS_KEY_FILE: '', ...extra },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code, out }));
    });

  it('production refuses to start without a certificate (exit 78) but --print-config works', async () => {
    const [r, missing, printed] = await Promise.all([
      start({ NODE_ENV: 'production' }),
      start({ NODE_ENV: 'production', TLS_CERT_FILE: join(dir, 'absent.crt'), TLS_KEY_FILE: join(dir, 'absent.key') }),
      start({ NODE_ENV: 'production' }, ['--print-config']),
    ]);
    expect(r.code, r.out).toBe(78);
    expect(r.out).toContain('"event":"config.invalid"');
    expect(r.out).toContain('TLS_CERT_FILE and TLS_KEY_FILE are required');
    expect(missing.code, missing.out).toBe(78);
    expect(missing.out).toContain('ENOENT');
    expect(printed.code, printed.out).toBe(0);
    expect(JSON.parse(printed.out)).toMatchObject({ NODE_ENV: 'production', ALLOW_PLAINTEXT_AUTH: false });
  });

  it('production refuses ALLOW_PLAINTEXT_AUTH=true (exit 78)', async () => {
    const r = await start({ NODE_ENV: 'production', ALLOW_PLAINTEXT_AUTH: 'true' });
    expect(r.code, r.out).toBe(78);
    expect(r.out).toContain('ALLOW_PLAINTEXT_AUTH');
  });
});
