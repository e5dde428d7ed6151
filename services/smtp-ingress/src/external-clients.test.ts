// Clients nobody here wrote complete TLS sessions on each port: openssl s_client
// (STARTTLS on 25/587, implicit on 465), Python's smtplib (starttls + login, SMTP_SSL),
// curl (smtp:// --ssl-reqd, smtps://). They run as child processes, never blocking the
// server, which lives in this process.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTNAME, startIngress, writeCertificate, type TestIngress } from '../test/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopmail-smtp-ext-'));
const PASSWORD = 'py and curl passphrase';
let t: TestIngress;

beforeAll(async () => {
  const cert = writeCertificate(dir, 'tls', [HOSTNAME, '127.0.0.1']);
  t = await startIngress({ env: { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', AUTH_DELAY_BASE_MS: '0' } });
  await t.pool.query('UPDATE mailboxes SET password_hash = $1', [await hash(PASSWORD)]);
});
afterAll(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a command; `input` goes to stdin at once, or when stdout first matches `after` (a greeting). */
function run(cmd: string, args: string[], input = '', after?: RegExp, timeoutMs = 20_000): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    let sent = false;
    const send = () => {
      sent = true;
      p.stdin.end(input);
    };
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sent && after?.test(out)) send();
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
    if (!after) send();
  });
}

const stored = async (subject: string) =>
  (await t.pool.query<{ auth_user: string | null; tls: boolean }>(`SELECT auth_user, tls FROM messages WHERE position($1::bytea in raw) > 0`, [Buffer.from(`Subject: ${subject}\r\n`)])).rows;

describe('openssl s_client', () => {
  it.each([
    ['mx (STARTTLS)', 'mx', true],
    ['submission (STARTTLS)', 'submission', true],
    ['submissions (implicit TLS)', 'submissions', false],
  ])('%s: handshake with TLS 1.3, EHLO inside TLS', async (_name, listener, starttls) => {
    const port = t.app.ports[listener]!;
    const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', HOSTNAME, '-crlf', '-ign_eof', '-brief', ...(starttls ? ['-starttls', 'smtp'] : [])];
    // Implicit TLS: wait for the greeting (a client talking first gets 421 "You talk too
    // soon"); with -starttls s_client reads the greeting itself and has sent EHLO and
    // STARTTLS before our input goes out.
    const r = await run('openssl', args, 'EHLO openssl.test\nQUIT\n', starttls ? undefined : /^220 /m);
    expect(r.err).toContain('CONNECTION ESTABLISHED');
    expect(r.err).toMatch(/Protocol version: TLSv1\.3/);
    expect(r.out).toMatch(/250[ -]ENHANCEDSTATUSCODES/);
    if (listener !== 'mx') expect(r.out).toContain('250-AUTH PLAIN LOGIN');
    expect(r.out).toMatch(/221 2\.0\.0 /);
  });
});

describe('Python smtplib', () => {
  const script = `
import smtplib, ssl, sys
mx, sub, subs, pw = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def msg(subject):
    return ('From: alice@example.org\\r\\nTo: bob@example.org\\r\\nSubject: %s\\r\\n\\r\\nhello\\r\\n' % subject).encode()
s = smtplib.SMTP('127.0.0.1', sub, local_hostname='py.test')
s.starttls(context=ctx)
s.login('alice@example.org', pw)
s.sendmail('alice@example.org', ['bob@example.org'], msg('py-587'))
print('587', s.sock.version())
s.quit()
s = smtplib.SMTP_SSL('127.0.0.1', subs, local_hostname='py.test', context=ctx)
s.login('alice@example.org', pw)
s.sendmail('alice@example.org', ['bob@example.org'], msg('py-465'))
print('465', s.sock.version())
s.quit()
s = smtplib.SMTP('127.0.0.1', mx, local_hostname='py.test')
s.starttls(context=ctx)
s.sendmail('someone@remote.test', ['bob@example.org'], msg('py-25'))
print('25', s.sock.version())
s.quit()
try:
    s = smtplib.SMTP('127.0.0.1', sub, local_hostname='py.test')
    s.login('alice@example.org', pw)
except smtplib.SMTPNotSupportedError as e:
    print('clear-login-refused')
`;
  it('starttls + login on 587, SMTP_SSL on 465, starttls on the MX; login in clear is impossible', async () => {
    const r = await run('python3', ['-c', script, String(t.port), String(t.app.ports.submission), String(t.app.ports.submissions), PASSWORD]);
    expect(r.err).toBe('');
    expect(r.out.trim().split('\n')).toEqual(['587 TLSv1.3', '465 TLSv1.3', '25 TLSv1.3', 'clear-login-refused']);
    expect(await stored('py-587')).toEqual([{ auth_user: 'alice@example.org', tls: true }]);
    expect(await stored('py-465')).toEqual([{ auth_user: 'alice@example.org', tls: true }]);
    expect(await stored('py-25')).toEqual([{ auth_user: null, tls: true }]);
  });
});

describe('curl', () => {
  it.each([
    ['smtp:// --ssl-reqd (587)', 'submission', 'smtp', 'curl-587'],
    ['smtps:// (465)', 'submissions', 'smtps', 'curl-465'],
  ])('%s submits with AUTH', async (_name, listener, scheme, subject) => {
    const port = t.app.ports[listener]!;
    const r = await run(
      'curl',
      ['-sS', '-k', '--ssl-reqd', `${scheme}://127.0.0.1:${port}`, '--user', `alice@example.org:${PASSWORD}`, '--mail-from', 'alice@example.org', '--mail-rcpt', 'bob@example.org', '--upload-file', '-'],
      `From: alice@example.org\r\nTo: bob@example.org\r\nSubject: ${subject}\r\n\r\nhello\r\n`,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(await stored(subject)).toEqual([{ auth_user: 'alice@example.org', tls: true }]);
  });
});
