// main.ts wiring: the service as its own process, the way `pnpm start` runs it.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, redisPrefix, startServiceProcess, type ServiceProcess, type TestDatabase } from '@hopmail/test-kit';
import { SmtpClient, seedDirectory, sendMessage, simpleMessage } from '../test/helpers.ts';

let db: TestDatabase;
let proc: ServiceProcess | undefined;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDirectory(db.pool);
});
afterAll(async () => {
  await proc?.kill('SIGKILL');
  await db?.drop();
});

it('starts, serves SMTP, health and metrics, and stops cleanly on SIGTERM', async () => {
  proc = startServiceProcess('smtp-ingress', {
    DATABASE_URL: db.url,
    REDIS_PREFIX: redisPrefix(),
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    HEALTH_HOST: '127.0.0.1',
    HEALTH_PORT: '0',
    SMTP_HOSTNAME: 'mx.test.example',
    SMTP_REVERSE_LOOKUP: 'false',
    // No DNS server here for the inbound SPF/DKIM/DMARC checks (mail-auth-in.test.ts has one).
    INBOUND_AUTH: 'false',
  });
  await proc.ready;
  const smtpPort = proc.logs.find((l) => l.event === 'smtp-ingress.listening')!.port as number;
  const healthPort = proc.logs.find((l) => l.event === 'start.done')!.healthPort as number;
  const c = await SmtpClient.connect(smtpPort);
  expect(await sendMessage(c, 'a@remote.test', ['alice@example.org'], simpleMessage('process'))).toMatch(/^250 2\.0\.0 /);
  expect(await c.cmd('QUIT')).toBe('221 2.0.0 Bye');
  expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
  const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
  expect(metrics).toMatch(/hopmail_smtp_messages_accepted_total\{listener="mx",service="smtp-ingress"\} 1/);
  expect(metrics).toMatch(/hopmail_smtp_message_size_bytes_count\{service="smtp-ingress"\} 1/);
  expect(metrics).toMatch(/hopmail_smtp_connections_active\{listener="mx",service="smtp-ingress"\} 0/);
  expect(await proc.kill('SIGTERM')).toBe(0);
  expect(proc.logs.some((l) => l.event === 'shutdown.done')).toBe(true);
  for (const l of proc.logs) if (l.level === 'warn' || l.level === 'error') expect(l.event).toEqual(expect.any(String));
});

it('refuses to start in production without a certificate (exit 78, config.invalid)', async () => {
  const p = startServiceProcess('smtp-ingress', { DATABASE_URL: db.url, NODE_ENV: 'production', SRS_SECRET: 'a production srs secret', TLS_CERT_FILE: '', TLS_KEY_FILE: '', HEALTH_PORT: '0', SMTP_PORT: '0' });
  p.ready.catch(() => {});
  expect(await p.exited).toBe(78);
  expect(p.logs.find((l) => l.event === 'config.invalid')?.problems).toEqual(['TLS_CERT_FILE and TLS_KEY_FILE are required when NODE_ENV=production']);
});
