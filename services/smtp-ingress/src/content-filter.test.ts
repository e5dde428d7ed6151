// rspamd as the content filter, against a real rspamd process (Debian's package) with a test
// configuration (no network look-ups): GTUBE is 550, a clean message passes with a score
// header, soft reject is 451, the verdict is stored; rspamd slow, answering garbage or
// killed: fail-open and fail-closed behave as configured, never a 5xx.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, GTUBE, RSPAMD_TEST_ADD_HEADER, RSPAMD_TEST_SOFT_REJECT, rspamdUnavailable, startFakeDns, startRspamd, type FakeDns, type TestDatabase, type TestRspamd } from '@hopmail/test-kit';
import { expectCode, HOSTNAME, plain, seedDirectory, sendMessage, SmtpClient, startIngress, writeCertificate, type TestIngress } from '../test/helpers.ts';

const unavailable = rspamdUnavailable();
if (unavailable) console.warn(`content-filter.test.ts skipped: ${unavailable}`);

const message = (subject: string, body = 'Hello there, a perfectly ordinary message.') =>
  `From: Sender <sender@remote.test>\r\nTo: Alice <alice@example.org>\r\nSubject: ${subject}\r\nDate: Sun, 06 Dec 2026 06:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@remote.test>\r\n\r\n${body}\r\n.\r\n`;

const queued = (reply: string) => /^250 2\.0\.0 Ok: queued as (\S+)/.exec(reply)?.[1];

async function stored(t: TestIngress, id: string): Promise<{ raw: string; spam: Record<string, unknown> | null; statuses: string[] }> {
  const r = await t.pool.query<{ raw: Buffer; spam: Record<string, unknown> | null }>('SELECT raw, spam FROM messages WHERE id = $1', [id]);
  const s = await t.pool.query<{ status: string }>('SELECT status FROM recipients WHERE message_id = $1', [id]);
  return { raw: r.rows[0]!.raw.toString('utf8'), spam: r.rows[0]!.spam, statuses: s.rows.map((x) => x.status) };
}

describe.skipIf(unavailable !== null)('rspamd (real process)', () => {
  let rspamd: TestRspamd;
  let db: TestDatabase;
  let open: TestIngress;
  let closed: TestIngress;
  const dir = mkdtempSync(join(tmpdir(), 'hopmail-spam-'));

  beforeAll(async () => {
    rspamd = await startRspamd();
    db = await createTestDatabase();
    await seedDirectory(db.pool);
    const cert = writeCertificate(dir, 'tls', [HOSTNAME, '127.0.0.1']);
    const tls = { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, TLS_RELOAD_POLL_MS: '0', SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0', AUTH_DELAY_BASE_MS: '0' };
    open = await startIngress({ db, env: { ...tls, RSPAMD_URL: rspamd.url } });
    closed = await startIngress({ db, env: { RSPAMD_URL: rspamd.url, RSPAMD_FAIL_OPEN: 'false' } });
    await db.pool.query('UPDATE mailboxes SET password_hash = $1', [await hash('pw')]);
  }, 150_000);
  afterAll(async () => {
    await open?.stop();
    await closed?.stop();
    await rspamd?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GTUBE is refused 550 5.7.1 with rspamd\'s message, and nothing is stored', async () => {
    const before = (await db.pool.query('SELECT count(*)::int AS n FROM messages')).rows[0].n as number;
    const c = await SmtpClient.connect(open.port);
    expect(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message('gtube', GTUBE))).toBe('550 5.7.1 Gtube pattern');
    c.close();
    expect((await db.pool.query('SELECT count(*)::int AS n FROM messages')).rows[0].n).toBe(before);
    expect(open.logs.some((l) => l.event === 'smtp-ingress.spam-rejected' && l.reason === 'spam')).toBe(true);
  });

  it('over a Unix-domain socket (RSPAMD_URL=unix:/path): the same verdicts', async () => {
    const t = await startIngress({ db, env: { RSPAMD_URL: rspamd.unixUrl } });
    try {
      const c = await SmtpClient.connect(t.port);
      expect(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message('gtube over unix', GTUBE))).toBe('550 5.7.1 Gtube pattern');
      const id = queued(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message('clean over unix')));
      c.close();
      expect(id).toBeDefined();
      expect((await stored(t, id!)).spam).toMatchObject({ checked: true, action: 'no action', required: 15 });
    } finally {
      await t.stop();
    }
  });

  it('a clean message passes with its score header, and the verdict is stored with it', async () => {
    const c = await SmtpClient.connect(open.port);
    const id = queued(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message('clean')));
    c.close();
    expect(id).toBeDefined();
    const m = await stored(open, id!);
    expect(m.raw).toMatch(/^X-Spam-Status: No, score=-?\d+\.\d\d required=15\.00\r\nX-Spam-Action: no action\r\n/);
    expect(m.raw).not.toContain('X-Spam-Flag');
    expect(m.spam).toMatchObject({ checked: true, action: 'no action', required: 15 });
    expect(typeof m.spam!.score).toBe('number');
    expect(m.statuses).toEqual(['queued']);
  });

  it('add header: X-Spam-Flag and the symbols are added, the message is accepted', async () => {
    const c = await SmtpClient.connect(open.port);
    const id = queued(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message(RSPAMD_TEST_ADD_HEADER)));
    c.close();
    const m = await stored(open, id!);
    expect(m.raw).toMatch(/^X-Spam-Status: Yes, /);
    expect(m.raw).toContain('X-Spam-Flag: YES\r\n');
    expect(m.raw).toMatch(/X-Spam-Symbols: [^\r\n]*HOPMAIL_TEST_ADD_HEADER/);
    expect(m.spam).toMatchObject({ checked: true, action: 'add header' });
  });

  it('soft reject is 451 4.7.1', async () => {
    const c = await SmtpClient.connect(open.port);
    expect(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message(RSPAMD_TEST_SOFT_REJECT))).toBe('451 4.7.1 Try again later (test)');
    c.close();
  });

  it('authenticated submission rspamd rejects is held (not relayed), refused, with an event', async () => {
    const c0 = await SmtpClient.connect(open.app.ports.submission!);
    expectCode(await c0.cmd('EHLO client.test'), 250);
    expectCode(await c0.cmd('STARTTLS'), 220);
    const c = await c0.startTls();
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd(`AUTH PLAIN ${plain('alice@example.org', 'pw')}`), 235);
    const reply = await sendMessage(c, 'alice@example.org', ['someone@remote.test'], message('outbound', GTUBE).replace('From: Sender <sender@remote.test>', 'From: Alice <alice@example.org>'), false);
    c.close();
    const id = /^550 5\.7\.1 Message refused as spam and held for the postmaster \(queue id (\S+)\)$/.exec(reply)?.[1];
    expect(id, reply).toBeDefined();
    const m = await stored(open, id!);
    expect(m.statuses).toEqual(['held']);
    expect(m.spam).toMatchObject({ checked: true, action: 'reject' });
    expect(open.logs.some((l) => l.event === 'smtp-ingress.spam-held' && l.msgId === id && l.user === 'alice@example.org')).toBe(true);
  });

  it('rspamd killed: fail-open accepts with X-Spam-Status: unchecked, fail-closed answers 451 4.7.1', async () => {
    rspamd.kill();
    const c = await SmtpClient.connect(open.port);
    const id = queued(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message('after-kill-open')));
    c.close();
    const m = await stored(open, id!);
    expect(m.raw.startsWith('X-Spam-Status: unchecked\r\n')).toBe(true);
    expect(m.spam).toEqual({ checked: false, reason: 'unavailable' });
    expect(open.logs.some((l) => l.event === 'smtp-ingress.spam-filter-unavailable' && l.level === 'warn')).toBe(true);

    const d = await SmtpClient.connect(closed.port);
    expect(await sendMessage(d, 'sender@remote.test', ['alice@example.org'], message('after-kill-closed'))).toBe('451 4.7.1 Content filter unavailable, try again later');
    d.close();
  });
});

describe('rspamd slow or answering garbage', () => {
  let slow: TcpServer;
  let garbage: Server;
  const sockets: Socket[] = [];
  let db: TestDatabase;
  let viaSlow: TestIngress;
  let viaGarbage: TestIngress;

  beforeAll(async () => {
    // Accepts and never answers.
    slow = createTcpServer((s) => void sockets.push(s)).listen(0, '127.0.0.1');
    garbage = createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end('{"action":"launch missiles","score":"lots"}');
    }).listen(0, '127.0.0.1');
    await Promise.all([slow, garbage].map((s) => new Promise((r) => s.once('listening', r))));
    const port = (s: TcpServer | Server) => (s.address() as { port: number }).port;
    db = await createTestDatabase();
    await seedDirectory(db.pool);
    viaSlow = await startIngress({ db, env: { RSPAMD_URL: `http://127.0.0.1:${port(slow)}`, RSPAMD_TIMEOUT_MS: '300', RSPAMD_FAIL_OPEN: 'false' } });
    viaGarbage = await startIngress({ db, env: { RSPAMD_URL: `http://127.0.0.1:${port(garbage)}` } });
  });
  afterAll(async () => {
    await viaSlow?.stop();
    await viaGarbage?.stop();
    for (const s of sockets) s.destroy();
    slow?.close();
    garbage?.close();
    await db?.drop();
  });

  it('past RSPAMD_TIMEOUT_MS, fail-closed answers 451 4.7.1 (not a 5xx) without waiting longer', async () => {
    const c = await SmtpClient.connect(viaSlow.port);
    const started = Date.now();
    expect(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message('slow'))).toBe('451 4.7.1 Content filter unavailable, try again later');
    expect(Date.now() - started).toBeLessThan(3000);
    c.close();
  });

  it('an answer that is no rspamd verdict counts as unavailable: fail-open accepts it unchecked', async () => {
    const c = await SmtpClient.connect(viaGarbage.port);
    const id = queued(await sendMessage(c, 'sender@remote.test', ['alice@example.org'], message('garbage')));
    c.close();
    expect(id).toBeDefined();
    const m = await stored(viaGarbage, id!);
    expect(m.raw.startsWith('X-Spam-Status: unchecked\r\n')).toBe(true);
    expect(viaGarbage.logs.find((l) => l.event === 'smtp-ingress.spam-filter-unavailable')).toBeDefined();
  });
});

// The authentication results smtp-ingress computed reach rspamd (request headers Hopmail-*,
// deploy/rspamd/hopmail.lua) and come back as rspamd's own symbols with their packaged
// scores; rspamd's spf/dkim/dmarc/arc modules are off (no DNS of its own).
describe.skipIf(unavailable !== null)('rspamd gets the inbound authentication results', () => {
  let rspamd: TestRspamd;
  let db: TestDatabase;
  let dns: FakeDns;
  let t: TestIngress;
  beforeAll(async () => {
    const txt = (name: string, data: string) => ({ name, type: 'TXT' as const, data });
    dns = await startFakeDns({
      records: [
        txt('spf-pass.test', 'v=spf1 ip4:127.0.0.1 -all'),
        txt('_dmarc.spf-pass.test', 'v=DMARC1; p=none'),
        txt('spf-fail.test', 'v=spf1 ip4:192.0.2.1 -all'),
        txt('_dmarc.spf-fail.test', 'v=DMARC1; p=none'),
      ],
    });
    [rspamd, db] = await Promise.all([startRspamd(), createTestDatabase()]);
    await seedDirectory(db.pool);
    t = await startIngress({ db, env: { RSPAMD_URL: rspamd.url, INBOUND_AUTH: 'true', INBOUND_AUTH_WORKERS: '0', DNS_SERVERS: `${dns.host}:${dns.port}`, DNS_TIMEOUT_MS: '300', DNS_TRIES: '1' } });
  }, 150_000);
  afterAll(async () => {
    await t?.stop();
    await rspamd?.stop();
    await dns?.stop();
    await db?.drop();
  });

  const send = async (domain: string) => {
    const c = await SmtpClient.connect(t.port);
    const body = `From: <news@${domain}>\r\nTo: <alice@example.org>\r\nSubject: auth ${domain}\r\nDate: Sun, 06 Dec 2026 06:00:00 +0000\r\nMessage-ID: <auth.${domain}@x>\r\n\r\nHello.\r\n.\r\n`;
    const id = queued(await sendMessage(c, `news@${domain}`, ['alice@example.org'], body));
    c.close();
    expect(id).toBeDefined();
    return (await stored(t, id!)).spam as { symbols: Record<string, number> };
  };

  it('SPF and DMARC pass: R_SPF_ALLOW and DMARC_POLICY_ALLOW with their negative scores', async () => {
    const spam = await send('spf-pass.test');
    expect(Object.keys(spam.symbols)).toEqual(expect.arrayContaining(['R_SPF_ALLOW', 'DMARC_POLICY_ALLOW', 'R_DKIM_NA', 'ARC_NA']));
    expect(spam.symbols.R_SPF_ALLOW).toBeLessThan(0);
  });

  it('SPF fail, DMARC fail under p=none: R_SPF_FAIL and DMARC_POLICY_SOFTFAIL, scored', async () => {
    const spam = await send('spf-fail.test');
    expect(Object.keys(spam.symbols)).toEqual(expect.arrayContaining(['R_SPF_FAIL', 'DMARC_POLICY_SOFTFAIL']));
    expect(spam.symbols.R_SPF_FAIL).toBeGreaterThan(0);
    expect(spam.symbols).not.toHaveProperty('R_SPF_ALLOW');
  });
});
