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
  mx.behave(MX, { rcpt: { 'gone@remote.test': 550, 'slow@remote.test': 451 } });
  // Aliases (RFC 3461 §6.2.7): one to exactly one remote address, one to several.
  const alias = (source: string, targets: string[]) =>
    t.pool.query(`INSERT INTO aliases (domain_id, source, targets) SELECT id, $1, $2 FROM domains WHERE name = 'example.org'`, [source, targets]);
  await alias('fwd@example.org', ['far@remote.test']);
  await alias('crew@example.org', ['bob@example.org', 'mate@remote.test']);
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
      // A deferral owes its delay warning at once (the first attempt); the retry is minutes away.
      RELAY_DELAY_WARNING_MS: '1',
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

/** Messages in `address`'s mailbox. */
const mailboxHolds = async (address: string, messageId: string) =>
  (await t.pool.query('SELECT 1 FROM mailbox_messages mm JOIN mailboxes b ON b.id = mm.mailbox_id WHERE b.address = $1 AND mm.message_id = $2', [address, messageId])).rowCount === 1;

const submit = (to: string, notify: string[], subject: string) => {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.app.ports.submission!, requireTLS: true, name: 'client.test', auth: { user: 'alice@example.org', pass: PASSWORD }, tls: { rejectUnauthorized: false } });
  return transport.sendMail({ from: 'alice@example.org', to, subject, text: 'the body stays here', dsn: { return: 'full', notify } });
};

describe('the delay warning, end to end (the MX answers 451)', () => {
  it.each([
    ['DELAY', true],
    ['FAILURE', false],
    ['NEVER', false],
  ] as const)('NOTIFY=%s: a "delayed" DSN in the sender\'s mailbox: %s', async (notify, warned) => {
    const info = await submit('slow@remote.test', [notify.toLowerCase()], `slow ${notify}`);
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    await routing.route(id);
    // The first attempt defers; the warning is owed at once (RELAY_DELAY_WARNING_MS=1), and
    // the recipient is marked warned in the transaction that writes the DSN, or without one.
    const r = await waitFor(async () => {
      const x = (await t.pool.query<{ status: string; delay_warned_at: Date | null; last_reply: string }>('SELECT status, delay_warned_at, last_reply FROM recipients WHERE message_id = $1', [id])).rows[0];
      return x?.status === 'deferred' && x.delay_warned_at ? x : undefined;
    }, { timeoutMs: 10_000, what: `slow@remote.test deferred and its warning decided (NOTIFY=${notify})` });
    expect(r.last_reply).toMatch(/^451/);
    const dsns = await dsnsAbout(id);
    if (!warned) {
      expect(dsns).toEqual([]);
      return;
    }
    expect(dsns).toHaveLength(1);
    const dsn = dsns[0]!;
    expect(dsn.to).toBe('alice@example.org');
    expect(dsn.raw).toContain('Subject: Delayed Mail (still being retried)');
    expect(dsn.raw).toMatch(/Final-Recipient: rfc822; slow@remote\.test\r\nAction: delayed\r\nStatus: 4\.\d+\.\d+\r\nRemote-MTA: dns; mx\.remote\.test\r\nDiagnostic-Code: smtp; 451/);
    expect(dsn.raw).toContain('Will-Retry-Until: ');
    // RET=FULL does not apply to a warning (RFC 3461 §4.3): the headers only.
    expect(dsn.raw).toContain('Content-Type: text/rfc822-headers');
    expect(dsn.raw).not.toContain('the body stays here');
    // The DSN is mail from <>: routing files it in alice's mailbox.
    await routing.route(dsn.id);
    expect(await mailboxHolds('alice@example.org', dsn.id)).toBe(true);
    expect(await status(dsn.id, 'alice@example.org')).toBe('delivered');
  });
});

describe('aliases and DSN (RFC 3461 §6.2.7), end to end', () => {
  it('an alias to exactly one remote address passes NOTIFY and ORCPT on: the hop without DSN gets a "relayed" report for the target, nothing says "expanded"', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.port, name: 'client.test', ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'sender@remote.test', to: ['fwd@example.org'] },
      from: 'sender@remote.test', to: 'fwd@example.org', subject: 'forwarded', text: 'hello',
      dsn: { notify: ['success', 'failure'], recipient: 'rfc822;Fwd@example.org' },
    });
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    await routing.route(id);
    await waitFor(async () => ((await status(id, 'far@remote.test')) === 'delivered' ? true : undefined), { timeoutMs: 10_000, what: 'far@remote.test delivered' });
    const [dsn] = await waitFor(async () => ((await dsnsAbout(id)).length ? dsnsAbout(id) : undefined), { timeoutMs: 10_000, what: 'the relayed DSN' });
    expect(await dsnsAbout(id)).toHaveLength(1);
    expect(dsn!.to).toBe('sender@remote.test');
    expect(dsn!.raw).toContain('Final-Recipient: rfc822; far@remote.test\r\nOriginal-Recipient: rfc822;Fwd@example.org\r\nAction: relayed\r\nStatus: 2.0.0\r\n');
    expect(dsn!.raw).not.toContain('Action: expanded');
    // The trace: the alias passed its report on (routed), the target's report was sent (dsn-sent).
    const ev = (await t.pool.query(`SELECT recipient, type, data FROM message_events WHERE message_id = $1 AND (data ? 'dsnSuccess' OR type = 'dsn-sent') ORDER BY id`, [id])).rows;
    expect(ev).toEqual([
      { recipient: 'fwd@example.org', type: 'routed', data: expect.objectContaining({ dsnSuccess: 'passed-on' }) },
      { recipient: 'far@remote.test', type: 'dsn-sent', data: expect.objectContaining({ action: 'relayed' }) },
    ]);
  });

  it('an alias to several addresses: one "expanded" report for the alias; its targets lose SUCCESS (a remote one is relayed without a report of its own)', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.port, name: 'client.test', ignoreTLS: true });
    const info = await transport.sendMail({
      envelope: { from: 'sender@remote.test', to: ['crew@example.org'] },
      from: 'sender@remote.test', to: 'crew@example.org', subject: 'to the crew', text: 'hello',
      dsn: { notify: ['success'], recipient: 'rfc822;Crew@example.org' },
    });
    const id = /queued as (\S+)/.exec(info.response)![1]!;
    await routing.route(id);
    expect(await mailboxHolds('bob@example.org', id)).toBe(true);
    const [dsn] = await waitFor(async () => ((await dsnsAbout(id)).length ? dsnsAbout(id) : undefined), { timeoutMs: 10_000, what: 'the expanded DSN' });
    expect(dsn!.raw).toContain('Final-Recipient: rfc822; crew@example.org\r\nOriginal-Recipient: rfc822;Crew@example.org\r\nAction: expanded\r\nStatus: 2.0.0\r\n');
    // The remote target reaches its MX (which speaks no DSN) and, NOTIFY=NEVER now, is not reported.
    await waitFor(async () => ((await status(id, 'mate@remote.test')) === 'delivered' ? true : undefined), { timeoutMs: 10_000, what: 'mate@remote.test delivered' });
    const rows = (await t.pool.query('SELECT address, dsn_notify, dsn_success_at FROM recipients WHERE message_id = $1 ORDER BY id', [id])).rows;
    expect(rows).toEqual([
      { address: 'crew@example.org', dsn_notify: ['SUCCESS'], dsn_success_at: expect.any(Date) },
      { address: 'mate@remote.test', dsn_notify: ['NEVER'], dsn_success_at: null },
    ]);
    expect(await dsnsAbout(id)).toHaveLength(1);
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
