// Mail delivered the real way — SMTP into smtp-ingress (nodemailer as the client), routed
// into the mailbox by routing's handler — then read back over POP3 byte for byte.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { createPool } from '@hopmail/db';
import { queueRedis } from '@hopmail/service-kit';
import { createLogger, createRegistry } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { startIngress, type TestIngress } from '../services/smtp-ingress/test/helpers.ts';
import { createApp as createRouting, type RoutingApp } from '../services/routing/src/app.ts';
import { configSchema as routingConfigSchema } from '../services/routing/src/config.ts';
import { RawClient, seedMailbox, startTestApp, writeCertificate, type TestApp } from '../services/pop3/test/support.ts';

let db: TestDatabase;
let ingress: TestIngress;
let routing: RoutingApp;
let routingClose: () => Promise<void>;
let pop3: TestApp;
const certDir = mkdtempSync(join(tmpdir(), 'hopmail-pop3-e2e-'));

beforeAll(async () => {
  db = await createTestDatabase();
  await seedMailbox(db.pool, 'reader@example.org', 'e2e password');
  ingress = await startIngress({ db });
  const config = routingConfigSchema.parse({ DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: ingress.prefix, DIRECTORY_CACHE_MS: '0', LOG_LEVEL: 'silent' });
  const pool = createPool(db.url, 3, 'hopmail-routing-test');
  const redis = queueRedis(config.REDIS_URL);
  routing = createRouting({ config, logger: createLogger('routing', 'silent'), registry: createRegistry('routing'), pool, redis });
  routingClose = async () => {
    await routing.stop().catch(() => {});
    redis.disconnect();
    await pool.end();
  };
  // Read back the way a mail client would: over TLS (port 995 style), plaintext logins off.
  const { certFile, keyFile } = writeCertificate(certDir);
  pop3 = await startTestApp({
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: ingress.prefix,
    AUTH_FAILURE_DELAY_MS: '0',
    RETR_CHUNK_BYTES: '1024',
    POP3S_PORT: '0',
    TLS_CERT_FILE: certFile,
    TLS_KEY_FILE: keyFile,
  });
});

afterAll(async () => {
  await pop3?.stop();
  await routingClose?.();
  await ingress?.stop();
  await db?.drop();
  rmSync(certDir, { recursive: true, force: true });
});

describe('SMTP in, POP3 out', () => {
  it('reads what the ingress stored, exactly, dot lines included', async () => {
    const body = ['first line', '.starts with a dot', '..two dots', '.', 'x'.repeat(1500), '.after a long line', 'end'].join('\r\n') + '\r\n';
    const original = `From: <sender@remote.test>\r\nTo: <reader@example.org>\r\nSubject: e2e\r\nMessage-ID: <e2e@remote.test>\r\n\r\n${body}`;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: ingress.port, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({ envelope: { from: 'sender@remote.test', to: ['reader@example.org'] }, raw: original });
    transport.close();
    expect(info.accepted).toEqual(['reader@example.org']);

    const m = await db.pool.query<{ id: string; raw: Buffer }>('SELECT id::text AS id, raw FROM messages');
    expect(m.rows).toHaveLength(1);
    const stored = m.rows[0]!;
    expect(stored.raw.subarray(stored.raw.length - original.length).toString()).toBe(original);
    await routing.route(stored.id);

    const c = await RawClient.connectTls(pop3.app.tlsPort!);
    expect(await c.login('reader@example.org', 'e2e password')).toBe(`+OK reader@example.org has 1 message (${stored.raw.length} octets)`);
    expect(await c.cmd('UIDL 1')).toBe(`+OK 1 ${stored.id}`);
    expect(await c.cmd('RETR 1')).toBe(`+OK ${stored.raw.length} octets`);
    expect((await c.body()).equals(stored.raw)).toBe(true);
    expect(await c.cmd('DELE 1')).toBe('+OK message 1 deleted');
    expect(await c.cmd('QUIT')).toBe('+OK Hopmail POP3 server signing off (maildrop empty)');
    await c.closed();
    const left = await db.pool.query('SELECT count(*)::int AS n FROM mailbox_messages');
    expect(left.rows[0].n).toBe(0);
  });
});
