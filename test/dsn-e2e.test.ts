// DSN end to end (RFC 3461/3464): nodemailer sends with NOTIFY/RET/ENVID/ORCPT → smtp-ingress
// (stored per recipient) → routing → a mailbox or outbound-relay → a fake MX; the DSN that
// comes back is itself mail, routed like any other. The services run in this process on
// their own apps, as in submission-relay.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { hash } from '@node-rs/argon2';
import { loadConfig } from '@hopmail/config';
import { createLogger, createRegistry } from '@hopmail/service-kit';
import { startFakeDns, startFakeMx, waitFor, type FakeDns, type FakeMx } from '@hopmail/test-kit';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp as createRelayApp, type RelayApp } from '../services/outbound-relay/src/app.ts';
import { configSchema as relayConfigSchema } from '../services/outbound-relay/src/config.ts';
import { buildApp as buildRoutingApp } from '../services/routing/test/fixtures.ts';
import { HOSTNAME, startIngress, writeCertificate, type TestIngress } from '../services/smtp-ingress/test/helpers.ts';

const MX = '127.0.0.73';
const SOA = { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 };
const PASSWORD = 'dsn test passphrase';
const dir = mkdtempSync(join(tmpdir(), 'hopmail-dsn-e2e-'));
let t: TestIngress;
let mx: FakeMx;
let dns: FakeDns;
let relay: RelayApp;
let routing: ReturnType<typeof buildRoutingApp>;

beforeAll(async () => {
  const cert = writeCertificate(dir, 'tls', [HOSTNAME]);
  t = await startIngress({ env: { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0' } });
  await t.pool.query('UPDATE mailboxes SET password_hash = $1', [await hash(PASSWORD)]);
  mx = await startFakeMx([MX]);
  mx.behave(MX, { rcpt: { 'gone@remote.test': 550 } });
  dns = await startFakeDns({
    host: '127.0.0.74',
    records: [
      { name: 'test', type: 'SOA', data: SOA },
      { name: 'remote.test', type: 'MX', data: { preference: 10, exchange: 'mx.remote.test' } },
      { name: 'mx.remote.test', type: 'A', data: MX },
    ],
  });
  routing = buildRoutingApp(t.pool, t.redis, { DATABASE_URL: t.db.url, REDIS_URL: t.config.REDIS_URL, REDIS_PREFIX: t.prefix });
  const config = loadConfig('outbound-relay', relayConfigSchema, {
    argv: [],
    env: {
      DATABASE_URL: t.db.url, REDIS_URL: t.config.REDIS_URL, REDIS_PREFIX: t.prefix, RELAY_HOSTNAME: 'relay.hopmail.test', RELAY_PORT: String(mx.port),
      DNS_SERVERS: `${dns.host}:${dns.port}`, DNS_TIMEOUT_MS: '500', RELAY_ALLOW_LOOPBACK_MX: 'true', RELAY_SCHEDULER_INTERVAL_MS: '50', RELAY_POOL_IDLE_MS: '0',
    },
  });
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  relay = createRelayApp({ config, logger: createLogger('outbound-relay', 'info', sink as never), registry: createRegistry('outbound-relay'), pool: t.pool, redis: t.redis });
  await relay.start();
});
afterAll(async () => {
  await relay?.stop();
  await routing?.stop();
  await mx?.stop();
  await dns?.stop();
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The DSNs (messages from <>) written about message `id`. */
async function dsnsAbout(id: string): Promise<{ id: string; raw: string; to: string }[]> {
  const r = await t.pool.query<{ id: string; raw: Buffer; address: string }>(
    `SELECT m.id, m.raw, r.address FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.mail_from = '' AND position($1 in convert_from(m.raw, 'UTF8')) > 0`,
    [`X-Hopmail-Queue-ID: ${id}`],
  );
  return r.rows.map((x) => ({ id: x.id, raw: x.raw.toString(), to: x.address }));
}

const status = async (id: string, address: string) => (await t.pool.query<{ status: string }>('SELECT status FROM recipients WHERE message_id = $1 AND address = $2', [id, address])).rows[0]?.status;

describe('each NOTIFY value, end to end', () => {
  it('SUCCESS (port 25, from outside): delivered into the mailbox, and a "delivered" DSN with ENVID and ORCPT travels back to the sender\'s MX', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.port, name: 'client.test', ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'sender@remote.test', to: ['bob@example.org'] },
      from: 'sender@remote.test', to: 'bob@example.org', subject: 'please confirm', text: 'hello',
      dsn: { id: 'ENV-e2e-1', return: 'headers', notify: ['success'], recipient: 'rfc822;Bob@example.org' },
    });
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    await routing.route(id);
    expect(await status(id, 'bob@example.org')).toBe('delivered');
    const [dsn] = await waitFor(async () => ((await dsnsAbout(id)).length ? dsnsAbout(id) : undefined), { timeoutMs: 10_000, what: 'the success DSN' });
    expect(dsn!.to).toBe('sender@remote.test');
    expect(dsn!.raw).toContain('Original-Envelope-Id: ENV-e2e-1\r\n');
    expect(dsn!.raw).toContain('Final-Recipient: rfc822; bob@example.org\r\nOriginal-Recipient: rfc822;Bob@example.org\r\nAction: delivered\r\nStatus: 2.0.0\r\n');
    // The DSN is mail: routing sends it out, and the sender's MX receives it from <>.
    await routing.route(dsn!.id);
    const tx = await waitFor(async () => mx.transactions.find((x) => x.data.toString().includes(`X-Hopmail-Queue-ID: ${id}`)), { timeoutMs: 10_000, what: 'the DSN at the sender\'s MX' });
    expect(tx.from).toBe('');
    expect(tx.to).toEqual(['sender@remote.test']);
  });

  it.each([
    ['FAILURE', 1],
    ['NEVER', 0],
    ['DELAY', 0],
  ] as const)('NOTIFY=%s on a remote recipient the MX refuses (RET=HDRS): %i bounce(s)', async (notify, bounces) => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.app.ports.submission!, requireTLS: true, name: 'client.test', auth: { user: 'alice@example.org', pass: PASSWORD }, tls: { rejectUnauthorized: false } });
    const info = await transport.sendMail({ from: 'alice@example.org', to: 'gone@remote.test', subject: `notify ${notify}`, text: 'the body stays here', dsn: { return: 'headers', notify: [notify.toLowerCase()] } });
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    await routing.route(id);
    await waitFor(async () => ((await status(id, 'gone@remote.test')) === (bounces ? 'bounced' : 'failed') ? true : undefined), { timeoutMs: 10_000, what: 'the refusal recorded' });
    if (bounces) {
      const [dsn] = await waitFor(async () => ((await dsnsAbout(id)).length ? dsnsAbout(id) : undefined), { timeoutMs: 10_000, what: 'the bounce' });
      expect(dsn!.to).toBe('alice@example.org');
      expect(dsn!.raw).toContain('Action: failed\r\nStatus: 5.');
      expect(dsn!.raw).toContain('Content-Type: text/rfc822-headers');
      expect(dsn!.raw).not.toContain('the body stays here');
    } else {
      // Reported (marked) without a DSN: the send-dsn job ran and found nothing to send.
      await waitFor(async () => ((await t.pool.query('SELECT 1 FROM recipients WHERE message_id = $1 AND dsn_sent_at IS NOT NULL', [id])).rowCount ? true : undefined), { timeoutMs: 10_000, what: 'the bounce suppressed' });
      expect(await dsnsAbout(id)).toEqual([]);
    }
  });
});

describe('bad DSN input over a real client', () => {
  it('NOTIFY=NEVER,SUCCESS and an ORCPT with bad xtext are 501 5.5.4; nothing is stored', async () => {
    const before = (await t.pool.query('SELECT count(*)::int AS n FROM messages')).rows[0].n;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.port, name: 'client.test', ignoreTLS: true });
    // nodemailer itself refuses NEVER with SUCCESS, so the line goes out raw through its connection.
    await expect(transport.sendMail({ envelope: { from: 'sender@remote.test', to: ['bob@example.org'] }, raw: 'Subject: x\r\n\r\nx\r\n', dsn: { notify: ['never', 'success'] } })).rejects.toThrow(/notify/i);
    await expect(transport.sendMail({ envelope: { from: 'sender@remote.test', to: ['bob@example.org'] }, raw: 'Subject: x\r\n\r\nx\r\n', dsn: { recipient: 'rfc822;bob\u0001@example.org' } })).rejects.toMatchObject({ responseCode: 501 });
    expect((await t.pool.query('SELECT count(*)::int AS n FROM messages')).rows[0].n).toBe(before);
  });
});
