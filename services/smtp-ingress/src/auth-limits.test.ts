// Brute-force brakes: per connection (421 4.7.0), per address and per account across
// replicas (Redis, 454 4.7.0), with a delay that doubles with each recorded failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/argon2';
import { createTestDatabase, freePort, redisPrefix, startTcpProxy, type TestDatabase } from '@hopmail/test-kit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectCode, HOSTNAME, plain, seedDirectory, SmtpClient, startIngress, writeCertificate, type TestIngress } from '../test/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopmail-smtp-auth-'));
const PASSWORD = 'a long passphrase';
let db: TestDatabase;
let a: TestIngress;
let b: TestIngress;
const delays: number[] = [];
const record = async (ms: number) => {
  delays.push(ms);
};

beforeAll(async () => {
  const cert = writeCertificate(dir, 'tls', [HOSTNAME]);
  db = await createTestDatabase();
  await seedDirectory(db.pool);
  await db.pool.query('UPDATE mailboxes SET password_hash = $1', [await hash(PASSWORD)]);
  const env = {
    TLS_CERT_FILE: cert.certFile,
    TLS_KEY_FILE: cert.keyFile,
    SUBMISSION_PORT: '0',
    SUBMISSIONS_PORT: '0',
    AUTH_MAX_FAILURES_PER_CONNECTION: '100',
    AUTH_MAX_FAILURES_PER_ACCOUNT: '4',
    AUTH_MAX_FAILURES_PER_IP: '7',
    AUTH_DELAY_BASE_MS: '40',
    AUTH_DELAY_MAX_MS: '100',
  };
  const prefix = redisPrefix();
  // Two replicas: same database, same Redis prefix.
  a = await startIngress({ db, env, prefix, sleep: record });
  b = await startIngress({ db, env, prefix, sleep: record });
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

const auth = async (t: TestIngress, user: string, password: string) => {
  const c = await SmtpClient.connectTls(t.app.ports.submissions!);
  expectCode(await c.cmd('EHLO client.test'), 250);
  const r = await c.cmd(`AUTH PLAIN ${plain(user, password)}`);
  c.close();
  return r;
};

it('locks an account after AUTH_MAX_FAILURES_PER_ACCOUNT failures on any replica, with a doubling delay; then the address', async () => {
  expect(await auth(a, 'alice@example.org', 'x1')).toMatch(/^535 5\.7\.8 /);
  expect(await auth(b, 'alice@example.org', 'x2')).toMatch(/^535 5\.7\.8 /);
  expect(await auth(a, 'alice@example.org', 'x3')).toMatch(/^535 5\.7\.8 /);
  expect(await auth(b, 'alice@example.org', 'x4')).toMatch(/^535 5\.7\.8 /);
  // Delay before each failed reply: 0, 40, 80, then capped at AUTH_DELAY_MAX_MS.
  expect(delays).toEqual([0, 40, 80, 100]);
  // Locked on both replicas, even with the right password; unknown-user timing is not revealed either.
  expect(await auth(a, 'alice@example.org', PASSWORD)).toBe('454 4.7.0 Temporary authentication failure, too many failed attempts; try again later');
  expect(await auth(b, 'alice@example.org', PASSWORD)).toMatch(/^454 4\.7\.0 /);
  expect(a.logs.concat(b.logs).some((l) => l.event === 'smtp-ingress.auth-locked')).toBe(true);
  // Another account from the same address still works (6 address failures < 7)...
  expect(await auth(b, 'bob@example.org', PASSWORD)).toMatch(/^235 2\.7\.0 /);
  expect(await auth(a, 'nobody@example.org', 'y1')).toMatch(/^535 5\.7\.8 /);
  // ...until the address reaches AUTH_MAX_FAILURES_PER_IP (the 454s above counted as failures).
  expect(await auth(a, 'carol@example.org', PASSWORD)).toMatch(/^454 4\.7\.0 /);
  const keys = await a.redis.keys(`${a.prefix}:smtp:auth-fail:*`);
  expect(keys.sort()).toEqual([`${a.prefix}:smtp:auth-fail:ip:127.0.0.1`, `${a.prefix}:smtp:auth-fail:user:alice@example.org`, `${a.prefix}:smtp:auth-fail:user:carol@example.org`, `${a.prefix}:smtp:auth-fail:user:nobody@example.org`]);
  for (const k of keys) expect(await a.redis.pttl(k)).toBeGreaterThan(0);
});

it('logins go on when Redis is unreachable (the counters read 0; smtp-ingress.auth-limiter-failed is logged)', async () => {
  const port = await freePort();
  const cert = writeCertificate(dir, 'tls2', [HOSTNAME]);
  const t = await startIngress({ db, env: { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', REDIS_URL: `redis://127.0.0.1:${port}` } });
  try {
    expect(await auth(t, 'carol@example.org', PASSWORD)).toMatch(/^235 2\.7\.0 /);
    expect(t.logs.some((l) => l.event === 'smtp-ingress.auth-limiter-failed')).toBe(true);
  } finally {
    await t.stop();
  }
});

it('PostgreSQL down: AUTH is 454 4.7.0 (temporary, not counted as a wrong password), MAIL and the From: check 451 4.3.0', async () => {
  const u = new URL(db.url);
  const proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
  const cert = writeCertificate(dir, 'tls3', [HOSTNAME]);
  const t = await startIngress({ db, databaseUrl: proxy.url(db.url), env: { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', DIRECTORY_CACHE_MS: '0' } });
  try {
    const c = await SmtpClient.connectTls(t.app.ports.submissions!);
    expectCode(await c.cmd('EHLO client.test'), 250);
    expect(await c.cmd(`AUTH PLAIN ${plain('carol@example.org', PASSWORD)}`)).toMatch(/^235 /);
    expectCode(await c.cmd('MAIL FROM:<carol@example.org>'), 250);
    expectCode(await c.cmd('RCPT TO:<bob@example.org>'), 250);
    expectCode(await c.cmd('DATA'), 354);
    proxy.down();
    // A subaddress needs the directory (the bare own address does not).
    expect(await c.cmd('From: carol+news@example.org\r\n\r\nx\r\n.', 15_000)).toMatch(/^451 4\.3\.0 /);
    expect(await c.cmd('MAIL FROM:<carol+news@example.org>', 15_000)).toMatch(/^451 4\.3\.0 /);
    const d = await SmtpClient.connectTls(t.app.ports.submissions!);
    expectCode(await d.cmd('EHLO client.test'), 250);
    expect(await d.cmd(`AUTH PLAIN ${plain('dave@example.org', 'whatever')}`, 15_000)).toBe('454 4.7.0 Temporary authentication failure, try again later');
    expect(t.logs.some((l) => l.event === 'smtp-ingress.lookup-failed')).toBe(true);
    c.close();
    d.close();
  } finally {
    proxy.up();
    await t.stop();
    await proxy.close();
  }
});
