// Submission (RFC 6409) and TLS (RFC 3207, RFC 8314): raw-socket transcripts for what a
// hostile or careless client may do, nodemailer for what a real one does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { hash } from '@node-rs/argon2';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@hopmail/test-kit';
import { expectCode, HOSTNAME, plain, repliesWithoutEnhancedCode, sleep, SmtpClient, startIngress, writeCertificate, type TestIngress } from '../test/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopmail-smtp-tls-'));
const PASSWORD = 'correct horse battery staple';
let t: TestIngress;
let cert: ReturnType<typeof writeCertificate>;
let other: ReturnType<typeof writeCertificate>;

export const tlsEnv = (c: { certFile: string; keyFile: string }, extra: Record<string, string> = {}) => ({
  TLS_CERT_FILE: c.certFile,
  TLS_KEY_FILE: c.keyFile,
  TLS_RELOAD_POLL_MS: '0',
  SUBMISSION_PORT: '0',
  SUBMISSIONS_PORT: '0',
  AUTH_DELAY_BASE_MS: '0',
  ...extra,
});

beforeAll(async () => {
  cert = writeCertificate(dir, 'tls', [HOSTNAME, '127.0.0.1']);
  other = writeCertificate(dir, 'other', ['smtp.other.test']);
  t = await startIngress({ env: tlsEnv(cert, { TLS_SNI_CERTS: `smtp.other.test=${other.certFile}:${other.keyFile}`, AUTH_MAX_FAILURES_PER_ACCOUNT: '1000', AUTH_MAX_FAILURES_PER_IP: '1000' }) });
  const h = await hash(PASSWORD);
  await t.pool.query('UPDATE mailboxes SET password_hash = $1', [h]);
  await t.pool.query(`INSERT INTO aliases (domain_id, source, targets) SELECT id, 'sales@example.org', '{alice@example.org}' FROM domains WHERE name = 'example.org'`);
  await t.pool.query(`INSERT INTO aliases (domain_id, source, targets) SELECT id, '@example.org', '{alice@example.org}' FROM domains WHERE name = 'example.org'`);
});
afterAll(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sub = () => t.app.ports.submission!;
const subs = () => t.app.ports.submissions!;

/** EHLO, STARTTLS, handshake, EHLO again: a client inside TLS on the submission port. */
async function secured(port = sub(), servername?: string): Promise<SmtpClient> {
  const c = await SmtpClient.connect(port);
  expectCode(await c.cmd('EHLO client.test'), 250);
  expect(await c.cmd('STARTTLS')).toMatch(/^220 2\.0\.0 /);
  const s = await c.startTls(servername ? { servername } : {});
  expectCode(await s.cmd('EHLO client.test'), 250);
  return s;
}

async function login(c: SmtpClient, user = 'alice@example.org', password = PASSWORD): Promise<string> {
  return c.cmd(`AUTH PLAIN ${plain(user, password)}`);
}

describe('submission before TLS (587)', () => {
  it('offers STARTTLS, not AUTH; AUTH in clear is 538 5.7.11; MAIL is 530 5.7.0', async () => {
    const c = await SmtpClient.connect(sub());
    const ehlo = await c.cmd('EHLO client.test');
    expect(ehlo).toContain('250-STARTTLS');
    expect(ehlo).not.toMatch(/AUTH/);
    expect(await c.cmd(`AUTH PLAIN ${plain('alice@example.org', PASSWORD)}`)).toBe('538 5.7.11 Encryption required: issue STARTTLS first');
    expect(await c.cmd('AUTH LOGIN')).toMatch(/^538 5\.7\.11 /);
    expect(await c.cmd('MAIL FROM:<alice@example.org>')).toBe('530 5.7.0 Authentication required');
    expect(repliesWithoutEnhancedCode(c.received)).toEqual([]);
    c.close();
  });

  it('the MX port offers STARTTLS and never AUTH (SMTP_MX_AUTH=false), before or after TLS', async () => {
    const c = await SmtpClient.connect(t.port);
    const ehlo = await c.cmd('EHLO client.test');
    expect(ehlo).toContain('STARTTLS');
    expect(ehlo).not.toContain('AUTH');
    expect(await c.cmd('AUTH PLAIN AGFAYg==')).toMatch(/^500 5\.5\.2 /);
    expectCode(await c.cmd('STARTTLS'), 220);
    const s = await c.startTls();
    const ehlo2 = await s.cmd('EHLO client.test');
    expect(ehlo2).not.toContain('AUTH');
    expect(ehlo2).not.toContain('STARTTLS');
    // Unauthenticated mail for a local user still arrives over TLS on the MX port.
    expectCode(await s.cmd('MAIL FROM:<someone@remote.test>'), 250);
    expectCode(await s.cmd('RCPT TO:<bob@example.org>'), 250);
    expect(await s.cmd('RCPT TO:<x@remote.test>')).toMatch(/^554 5\.7\.1 /);
    s.close();
  });
});

describe('STARTTLS hygiene', () => {
  it.each([
    ['STARTTLS\\r\\nRSET\\r\\n', 'STARTTLS\r\nRSET\r\n'],
    ['STARTTLS\\r\\nRSET (no final CRLF)', 'STARTTLS\r\nRSET'],
    ['STARTTLS\\r\\nMAIL FROM:<x@y>\\r\\n', 'STARTTLS\r\nMAIL FROM:<alice@example.org>\r\n'],
  ])('%s in one write: nothing after STARTTLS runs, in clear or inside TLS', async (_name, bytes) => {
    for (const port of [sub(), t.port]) {
      const c = await SmtpClient.connect(port);
      expectCode(await c.cmd('EHLO client.test'), 250);
      const before = c.received.length;
      c.write(bytes);
      expect(await c.reply()).toMatch(/^220 2\.0\.0 /);
      const s = await c.startTls();
      await sleep(100);
      // Exactly the 220 went out in clear, and nothing has come inside TLS unasked.
      expect(c.received.slice(before)).toMatch(/^220 [^\r\n]*\r\n$/);
      expect(s.unread).toBe(0);
      // The first reply inside TLS is to our own first command.
      expect(await s.cmd('NOOP')).toMatch(/^250 2\.0\.0 /);
      expect(s.unread).toBe(0);
      s.close();
    }
  });

  it('resets the session after TLS (EHLO needed again, envelope gone) and refuses a second STARTTLS', async () => {
    const c = await SmtpClient.connect(t.port);
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd('MAIL FROM:<someone@remote.test>'), 250);
    expectCode(await c.cmd('STARTTLS'), 220);
    const s = await c.startTls();
    expect(await s.cmd('RCPT TO:<bob@example.org>')).toMatch(/^503 5\.5\.1 /);
    expectCode(await s.cmd('EHLO client.test'), 250);
    expect(await s.cmd('RCPT TO:<bob@example.org>')).toMatch(/^503 5\.5\.1 /); // no MAIL survived
    expect(await s.cmd('STARTTLS')).toMatch(/^503 5\.5\.1 /);
    const i = await SmtpClient.connectTls(subs());
    expectCode(await i.cmd('EHLO client.test'), 250);
    expect(await i.cmd('STARTTLS')).toMatch(/^503 5\.5\.1 /);
    expect(repliesWithoutEnhancedCode(s.received)).toEqual([]);
    s.close();
    i.close();
  });
});

describe('AUTH inside TLS', () => {
  it('advertises PLAIN and LOGIN and accepts both', async () => {
    const s = await secured();
    s.received = '';
    const ehlo = await s.cmd('EHLO client.test');
    expect(ehlo).toContain('250-AUTH PLAIN LOGIN');
    expect(ehlo).not.toContain('STARTTLS');
    expect(await s.cmd('AUTH CRAM-MD5')).toMatch(/^504 5\.5\.4 /);
    expect(await s.cmd('AUTH PLAIN bm90LXRocmVlLWZpZWxkcw==')).toMatch(/^501 5\.5\.4 /); // no NULs
    expect(await s.cmd('AUTH PLAIN')).toBe('334 ');
    expect(await s.cmd('*')).toMatch(/^501 5\.5\.4 /); // RFC 4954 §4: client cancels
    expect(await login(s)).toBe('235 2.7.0 Authentication successful');
    expect(await s.cmd('AUTH PLAIN x')).toMatch(/^503 5\.5\.1 /);
    s.close();
    const l = await SmtpClient.connectTls(subs());
    expectCode(await l.cmd('EHLO client.test'), 250);
    expect(await l.cmd('AUTH LOGIN')).toMatch(/^334 /);
    expect(await l.cmd(Buffer.from('bob@example.org').toString('base64'))).toMatch(/^334 /);
    expect(await l.cmd(Buffer.from(PASSWORD).toString('base64'))).toMatch(/^235 2\.7\.0 /);
    l.close();
  });

  it('unknown user and wrong password: the same reply, about the same time', async () => {
    const attempt = async (user: string) => {
      const s = await secured();
      const started = performance.now();
      const r = await login(s, user, 'wrong password');
      const ms = performance.now() - started;
      s.close();
      return { r, ms };
    };
    await attempt('alice@example.org'); // warm-up (the dummy hash is made once)
    await attempt('nobody@example.org');
    // Interleaved, so load from other test files hits both sides alike.
    const known: { r: string; ms: number }[] = [];
    const unknown: { r: string; ms: number }[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await attempt('alice@example.org'));
      unknown.push(await attempt('nobody@example.org'));
    }
    for (const a of [...known, ...unknown]) expect(a.r).toBe('535 5.7.8 Authentication credentials invalid');
    // Fastest of five each: load from other test files can only add time, so the fastest
    // attempts are the ones that compare the work done (a median drifted with that load).
    const fastest = (xs: { ms: number }[]) => Math.min(...xs.map((x) => x.ms));
    // Both pay one Argon2id verification (tens of ms); an early return for unknown users
    // would answer in about a millisecond.
    expect(fastest(unknown)).toBeGreaterThan(fastest(known) * 0.4);
    expect(fastest(known)).toBeGreaterThan(fastest(unknown) * 0.4);
  });

  it('PLAIN with an authorization identity other than the login is refused (535 5.7.8); the same one is fine', async () => {
    const s = await secured();
    expect(await s.cmd(`AUTH PLAIN ${plain('alice@example.org', PASSWORD, 'bob@example.org')}`)).toMatch(/^535 5\.7\.8 Authentication credentials invalid \(authorization identity/);
    expect(await s.cmd(`AUTH PLAIN ${plain('alice@example.org', PASSWORD, 'ALICE@example.org')}`)).toMatch(/^235 2\.7\.0 /);
    s.close();
  });

  it('closes the session with 421 4.7.0 after AUTH_MAX_FAILURES_PER_CONNECTION failures', async () => {
    const s = await secured();
    expect(await login(s, 'alice@example.org', 'nope1')).toMatch(/^535 5\.7\.8 /);
    expect(await login(s, 'alice@example.org', 'nope2')).toMatch(/^535 5\.7\.8 /);
    s.write(`AUTH PLAIN ${plain('alice@example.org', 'nope3')}\r\n`);
    expect(await s.reply()).toMatch(/^535 5\.7\.8 /);
    expect(await s.reply()).toMatch(/^421 4\.7\.0 .*too many failed authentication attempts/);
    await s.waitClosed();
    expect(t.logs.some((l) => l.event === 'smtp-ingress.auth-too-many-failures')).toBe(true);
    // Passwords never reach the log.
    expect(JSON.stringify(t.logs)).not.toContain('nope1');
    expect(JSON.stringify(t.logs)).not.toContain(PASSWORD);
  });
});

describe('sender ownership', () => {
  it('refuses an envelope sender that is not the user (553 5.7.1); own address, subaddress and alias pass; a catch-all does not make an address yours', async () => {
    const s = await secured();
    expectCode(await login(s), 235);
    expect(await s.cmd('MAIL FROM:<bob@example.org>')).toBe('553 5.7.1 <bob@example.org>: Sender address rejected: not owned by user alice@example.org');
    expect(await s.cmd('MAIL FROM:<anything@example.org>')).toMatch(/^553 5\.7\.1 /); // catch-all → alice, still not hers
    expect(await s.cmd('MAIL FROM:<alice@remote.test>')).toMatch(/^553 5\.7\.1 /);
    for (const ok of ['alice@example.org', 'ALICE@Example.org', 'alice+lists@example.org', 'sales@example.org', '']) {
      expect(await s.cmd(`MAIL FROM:<${ok}>`), ok).toMatch(/^250 2\.1\.0 /);
      expectCode(await s.cmd('RSET'), 250);
    }
    s.close();
  });

  it('refuses a From: header that is not the user after DATA (553 5.7.1), and one without From: (550 5.6.0)', async () => {
    const s = await secured();
    expectCode(await login(s), 235);
    const send = async (header: string) => {
      expectCode(await s.cmd('MAIL FROM:<alice@example.org>'), 250);
      expectCode(await s.cmd('RCPT TO:<bob@example.org>'), 250);
      expectCode(await s.cmd('DATA'), 354);
      return s.cmd(`${header}Subject: x\r\n\r\nbody\r\n.`);
    };
    expect(await send('From: Bob <bob@example.org>\r\n')).toBe('553 5.7.1 <bob@example.org>: From: header address rejected: not owned by user alice@example.org');
    expect(await send('From: "Alice, really" <alice@example.org>, mallory@evil.test\r\n')).toMatch(/^553 5\.7\.1 <mallory@evil\.test>/);
    expect(await send('')).toMatch(/^550 5\.6\.0 /);
    expect(await send('From: (comment) Alice <alice@example.org> (more)\r\n')).toMatch(/^250 2\.0\.0 /);
    expect(await send('From: Sales <sales@example.org>\r\n')).toMatch(/^250 2\.0\.0 /);
    s.close();
  });
});

describe('delivery of submitted mail', () => {
  let queueRedis: Redis;
  let queue: Queue;
  beforeAll(() => {
    queueRedis = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue('route-message', { connection: queueRedis, prefix: t.prefix });
  });
  afterAll(async () => {
    await queue.close();
    queueRedis.disconnect();
  });

  const transport = (port: number, secure: boolean) =>
    nodemailer.createTransport({ host: '127.0.0.1', port, secure, requireTLS: !secure, name: 'client.test', auth: { user: 'alice@example.org', pass: PASSWORD }, tls: { rejectUnauthorized: false } });

  it.each([
    ['587 with STARTTLS', false],
    ['465 implicit TLS', true],
  ])('nodemailer submits over %s: local and remote recipients, auth_user and tls recorded, Date and Message-ID added', async (_name, secure) => {
    const port = secure ? subs() : sub();
    // Raw message without Date and Message-ID: nodemailer would add them otherwise.
    const raw = 'From: Alice <alice@example.org>\r\nTo: bob@example.org, friend@remote.test\r\nSubject: hi\r\n\r\nHello.\r\n';
    const info = await transport(port, secure).sendMail({ envelope: { from: 'alice@example.org', to: ['bob@example.org', 'friend@remote.test'] }, raw });
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    expect(info.accepted).toEqual(['bob@example.org', 'friend@remote.test']);
    const row = (await t.pool.query('SELECT auth_user, tls, mail_from, header_message_id, raw FROM messages WHERE id = $1', [id])).rows[0];
    expect(row).toMatchObject({ auth_user: 'alice@example.org', tls: true, mail_from: 'alice@example.org', header_message_id: `<${id}@${HOSTNAME}>` });
    const text = (row.raw as Buffer).toString('utf8');
    expect(text).toMatch(new RegExp(`^Received: from client\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby ${HOSTNAME.replace(/\./g, '\\.')} \\(Hopmail\\) with ESMTPSA id ${id};`));
    expect(text).toMatch(/\r\nDate: \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\nMessage-ID: <[^>]+>\r\nFrom: Alice <alice@example\.org>\r\n/);
    const rcpts = (await t.pool.query('SELECT address, status FROM recipients WHERE message_id = $1 ORDER BY address', [id])).rows;
    expect(rcpts).toEqual([
      { address: 'bob@example.org', status: 'queued' },
      { address: 'friend@remote.test', status: 'queued' },
    ]);
    // Added just after the 250 (the reply does not wait for Redis).
    expect((await waitFor(async () => queue.getJob(id), { what: 'the route-message job' })).data).toEqual({ messageId: id });
  });

  it('keeps Date and Message-ID the client sent', async () => {
    const info = await transport(subs(), true).sendMail({ from: 'alice@example.org', to: 'bob@example.org', subject: 'x', text: 'y', messageId: '<own@client.test>' });
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    const row = (await t.pool.query('SELECT header_message_id, raw FROM messages WHERE id = $1', [id])).rows[0];
    expect(row.header_message_id).toBe('<own@client.test>');
    expect((row.raw as Buffer).toString().match(/^Date:/gim)).toHaveLength(1);
  });

  it('nodemailer with a wrong password gets 535 5.7.8 and nothing is stored', async () => {
    const before = (await t.pool.query('SELECT count(*)::int AS n FROM messages')).rows[0].n;
    const bad = nodemailer.createTransport({ host: '127.0.0.1', port: subs(), secure: true, auth: { user: 'alice@example.org', pass: 'wrong' }, tls: { rejectUnauthorized: false } });
    await expect(bad.sendMail({ from: 'alice@example.org', to: 'bob@example.org', text: 'x' })).rejects.toMatchObject({ responseCode: 535 });
    expect((await t.pool.query('SELECT count(*)::int AS n FROM messages')).rows[0].n).toBe(before);
  });
});

describe('certificates', () => {
  const peer = (port: number, servername?: string) =>
    new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(servername ? { servername } : {}) });
      s.once('secureConnect', () => {
        const fp = s.getPeerX509Certificate()!.fingerprint256;
        s.destroy();
        resolve(fp);
      });
      s.once('error', reject);
    });

  it('selects the certificate by SNI on implicit TLS and after STARTTLS', async () => {
    expect(await peer(subs())).toBe(cert.fingerprint);
    expect(await peer(subs(), 'smtp.other.test')).toBe(other.fingerprint);
    const s = await secured(sub(), 'smtp.other.test');
    expect(s.peerFingerprint).toBe(other.fingerprint);
    s.close();
  });

  it('refuses TLS 1.1 on 465 and after STARTTLS; negotiates 1.2 and 1.3', async () => {
    await expect(SmtpClient.connectTls(subs(), { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
    const c = await SmtpClient.connect(sub());
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd('STARTTLS'), 220);
    await expect(c.startTls({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
    // Failed handshakes are routine on the Internet: info, with the OpenSSL reason, no stack.
    await sleep(200);
    const failed = t.logs.filter((l) => l.event === 'smtp-ingress.tls-failed');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed[0]).toMatchObject({ level: 'info', remoteIp: '127.0.0.1' });
    // One line per failed handshake, with the client address, on both paths.
    expect(failed.filter((l) => l.listener === 'submission')).toEqual([expect.objectContaining({ remoteIp: '127.0.0.1' })]);
    expect(t.logs.filter((l) => l.event === 'smtp-ingress.session-error')).toEqual([]);
    const v12 = await SmtpClient.connectTls(subs(), { maxVersion: 'TLSv1.2' });
    expect(v12.tlsSocket.getProtocol()).toBe('TLSv1.2');
    v12.close();
    // The server's cipher order wins (the client would rather have ChaCha20).
    const order = await SmtpClient.connectTls(subs(), { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256' });
    expect(order.tlsSocket.getCipher().name).toBe('ECDHE-ECDSA-AES128-GCM-SHA256');
    order.close();
    const v13 = await SmtpClient.connectTls(subs());
    expect(v13.tlsSocket.getProtocol()).toBe('TLSv1.3');
    v13.close();
  });

  it('rotation: new connections get the new certificate, a session in progress goes on and sends mail', async () => {
    const open = await SmtpClient.connectTls(subs());
    expect(open.peerFingerprint).toBe(cert.fingerprint);
    expectCode(await open.cmd('EHLO client.test'), 250);
    expectCode(await login(open), 235);
    const reloaded = new Promise<void>((r) => {
      const off = t.app.certificates!.onReload(() => {
        off();
        r();
      });
    });
    const next = writeCertificate(dir, 'tls', [HOSTNAME, '127.0.0.1']);
    await reloaded;
    expect(await peer(subs())).toBe(next.fingerprint);
    const s = await secured();
    expect(s.peerFingerprint).toBe(next.fingerprint);
    s.close();
    // The session from before the rotation is still the old certificate and still works.
    expect(open.peerFingerprint).toBe(cert.fingerprint);
    expectCode(await open.cmd('MAIL FROM:<alice@example.org>'), 250);
    expectCode(await open.cmd('RCPT TO:<bob@example.org>'), 250);
    expectCode(await open.cmd('DATA'), 354);
    expect(await open.cmd('From: alice@example.org\r\nSubject: during rotation\r\n\r\nx\r\n.')).toMatch(/^250 2\.0\.0 /);
    open.close();
    cert = next;
  });
});

describe('SMTP_MX_AUTH=true', () => {
  it('port 25 then offers AUTH after STARTTLS only, and still takes unauthenticated mail for local users', async () => {
    const mx = await startIngress({ db: t.db, env: tlsEnv(cert, { SMTP_MX_AUTH: 'true' }) });
    try {
      const c = await SmtpClient.connect(mx.port);
      expect(await c.cmd('EHLO client.test')).not.toContain('AUTH');
      expect(await c.cmd(`AUTH PLAIN ${plain('alice@example.org', PASSWORD)}`)).toMatch(/^538 5\.7\.11 /);
      expectCode(await c.cmd('STARTTLS'), 220);
      const s = await c.startTls();
      expect(await s.cmd('EHLO client.test')).toContain('250-AUTH PLAIN LOGIN');
      expectCode(await s.cmd('MAIL FROM:<someone@remote.test>'), 250); // no AUTH needed on the MX
      expectCode(await s.cmd('RSET'), 250);
      expectCode(await login(s), 235);
      expect(await s.cmd('MAIL FROM:<bob@example.org>')).toMatch(/^553 5\.7\.1 /); // authenticated: own addresses only
      expectCode(await s.cmd('MAIL FROM:<alice@example.org>'), 250);
      expectCode(await s.cmd('RCPT TO:<friend@remote.test>'), 250); // and may relay
      s.close();
    } finally {
      await mx.stop();
    }
  });
});

describe('REQUIRETLS (RFC 8689)', () => {
  it('is offered inside TLS only; MAIL FROM … REQUIRETLS is refused in clear and stored with the message over TLS', async () => {
    const c = await SmtpClient.connect(t.port);
    expect(await c.cmd('EHLO client.test')).not.toContain('REQUIRETLS');
    expect(await c.cmd('MAIL FROM:<someone@remote.test> REQUIRETLS')).toMatch(/^5\d\d /);
    expectCode(await c.cmd('RSET'), 250);
    expectCode(await c.cmd('STARTTLS'), 220);
    const s = await c.startTls();
    expect(await s.cmd('EHLO client.test')).toContain('250-REQUIRETLS');
    expectCode(await s.cmd('MAIL FROM:<someone@remote.test> REQUIRETLS'), 250);
    expectCode(await s.cmd('RCPT TO:<bob@example.org>'), 250);
    expectCode(await s.cmd('DATA'), 354);
    const reply = await s.cmd('Subject: requiretls\r\n\r\nSecret.\r\n.');
    expectCode(reply, 250);
    const stored = await t.pool.query(`SELECT require_tls FROM messages WHERE convert_from(raw, 'UTF8') LIKE '%Subject: requiretls%'`);
    expect(stored.rows).toEqual([{ require_tls: true }]);
    s.close();
  });
});
