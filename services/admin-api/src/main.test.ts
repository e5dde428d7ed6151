// main.ts as its own process, the way `pnpm start` runs it.
import { baseUrls, createTestDatabase, freePort, redisPrefix, startServiceProcess, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EVENTS } from './events.ts';
import { DEVELOPMENT_KEK } from '@hopmail/sender-auth';

const TOKEN = 'process-test-token-0123456789abcdef';
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

test('refuses to start without ADMIN_TOKEN, saying why (exit 78)', async () => {
  const p = startServiceProcess('admin-api', { DATABASE_URL: db.url, ADMIN_TOKEN: '', NODE_ENV: 'development', HEALTH_PORT: '0', ADMIN_PORT: '0' });
  await expect(p.ready).rejects.toThrow(/ADMIN_TOKEN: /);
  expect(await p.exited).toBe(78);
  expect(p.logs.some((l) => l.event === 'config.invalid')).toBe(true);
});

test('refuses a short ADMIN_TOKEN without echoing it', async () => {
  const p = startServiceProcess('admin-api', { DATABASE_URL: db.url, ADMIN_TOKEN: 'short-secret-xyz', HEALTH_PORT: '0', ADMIN_PORT: '0' });
  const err = await p.ready.then(
    () => null,
    (e: Error) => e,
  );
  expect(err?.message).toMatch(/ADMIN_TOKEN: must be at least 24 characters/);
  expect(err?.message).not.toContain('short-secret-xyz');
  expect(JSON.stringify(p.logs)).not.toContain('short-secret-xyz');
  expect(await p.exited).toBe(78);
});

test('serves the API and health endpoints, then stops cleanly on SIGTERM', async () => {
  const healthPort = await freePort();
  const p = startServiceProcess('admin-api', { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: redisPrefix(), ADMIN_TOKEN: TOKEN, HEALTH_PORT: String(healthPort), ADMIN_PORT: '0', ADMIN_HOST: '127.0.0.1' });
  try {
    await p.ready;
    const listening = p.logs.find((l) => l.event === EVENTS.listening) as { port: number } | undefined;
    expect(listening?.port).toBeGreaterThan(0);
    const base = `http://127.0.0.1:${listening!.port}`;
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/v1/domains`, { method: 'POST', headers: auth, body: JSON.stringify({ name: 'proc.example' }) });
    expect(created.status).toBe(201);
    const mb = await fetch(`${base}/v1/mailboxes`, { method: 'POST', headers: auth, body: JSON.stringify({ address: 'p@proc.example', password: 'process-password' }) });
    expect(mb.status).toBe(201);
    // Production Argon2id parameters (the defaults) are what main.ts uses.
    const h = await db.pool.query<{ password_hash: string }>("SELECT password_hash FROM mailboxes WHERE address = 'p@proc.example'");
    expect(h.rows[0]!.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);

    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.text()).toMatch(/redis/);
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    expect(metrics).toMatch(/hopmail_admin_http_requests_total\{method="POST",route="\/v1\/mailboxes",status="201"/);
    // The health port is not the API: no /v1 there, and the API has no /healthz.
    expect((await fetch(`${base}/healthz`, { headers: auth })).status).toBe(404);
  } finally {
    expect(await p.kill('SIGTERM')).toBe(0);
  }
  await waitFor(async () => p.logs.some((l) => l.event === 'shutdown.done'), { what: 'shutdown.done' });
  expect(JSON.stringify(p.logs)).not.toContain(TOKEN);
  expect(JSON.stringify(p.logs)).not.toContain('process-password');
});

test('refuses a DKIM key-encryption key of the wrong length, without echoing it (exit 78)', async () => {
  const short = Buffer.alloc(16, 3).toString('base64');
  const p = startServiceProcess('admin-api', { DATABASE_URL: db.url, ADMIN_TOKEN: TOKEN, DKIM_KEY_ENCRYPTION_KEY: short, HEALTH_PORT: '0', ADMIN_PORT: '0' });
  await expect(p.ready).rejects.toThrow(/DKIM_KEY_ENCRYPTION_KEY: must be 32 bytes/);
  expect(await p.exited).toBe(78);
  expect(JSON.stringify(p.logs)).not.toContain(short);
});

test('refuses to start in production without a DKIM key-encryption key of its own (exit 78)', async () => {
  for (const kek of ['', DEVELOPMENT_KEK]) {
    const p = startServiceProcess('admin-api', { DATABASE_URL: db.url, ADMIN_TOKEN: TOKEN, NODE_ENV: 'production', DKIM_KEY_ENCRYPTION_KEY: kek, HEALTH_PORT: '0', ADMIN_PORT: '0' });
    await expect(p.ready).rejects.toThrow(kek ? /DKIM_KEY_ENCRYPTION_KEY: is the public development key/ : /DKIM_KEY_ENCRYPTION_KEY: required in production/);
    expect(await p.exited).toBe(78);
  }
});
