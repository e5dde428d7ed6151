// Mail delivered the real way — SMTP into smtp-ingress (nodemailer), routed by routing's
// handler — then read with a real IMAP client (imapflow, by the author of nodemailer), next to
// POP3 on the same mailbox. Two imap app instances stand in for two replicas: IDLE on one
// hears what the other (or routing, or pop3) changed, through PostgreSQL NOTIFY.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { ImapFlow } from 'imapflow';
import { createPool } from '@hopmail/db';
import { createLogger, createRegistry, queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { startIngress, type TestIngress } from '../services/smtp-ingress/test/helpers.ts';
import { createApp as createRouting, type RoutingApp } from '../services/routing/src/app.ts';
import { configSchema as routingConfigSchema } from '../services/routing/src/config.ts';
import { RawClient, startTestApp as startPop3 } from '../services/pop3/test/support.ts';
import { seedMailbox, startTestApp as startImap, writeCertificate, type TestApp } from '../services/imap/test/support.ts';

let db: TestDatabase;
let ingress: TestIngress;
let routing: RoutingApp;
let routingClose: () => Promise<void>;
let imapA: TestApp;
let imapB: TestApp;
let pop3: Awaited<ReturnType<typeof startPop3>>;
const USER = 'reader@example.org';
const PASS = 'e2e password';

beforeAll(async () => {
  db = await createTestDatabase();
  await seedMailbox(db.pool, USER, PASS);
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
  const { certFile, keyFile } = writeCertificate();
  const env = { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: ingress.prefix, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile };
  imapA = await startImap(env);
  imapB = await startImap(env);
  pop3 = await startPop3({ ...env, AUTH_FAILURE_DELAY_MS: '0', POP3S_PORT: '0' });
});

afterAll(async () => {
  await imapA?.stop();
  await imapB?.stop();
  await pop3?.stop();
  await routingClose?.();
  await ingress?.stop();
  await db?.drop();
});

function client(app: TestApp): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: app.app.tlsPort!, secure: true, tls: { rejectUnauthorized: false }, auth: { user: USER, pass: PASS }, logger: false });
}

async function sendAndRoute(subject: string, fields = '', beforeRouting?: (id: string) => Promise<unknown>): Promise<string> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: ingress.port, secure: false, ignoreTLS: true });
  const raw = `${fields}From: <sender@remote.test>\r\nTo: <${USER}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@remote.test>\r\n\r\nbody of ${subject}\r\n`;
  await transport.sendMail({ envelope: { from: 'sender@remote.test', to: [USER] }, raw });
  transport.close();
  const r = await db.pool.query<{ id: string }>("SELECT m.id::text AS id FROM messages m WHERE m.header_message_id = $1 OR convert_from(m.raw, 'LATIN1') LIKE $2 ORDER BY m.received_at DESC LIMIT 1", [`<${subject}@remote.test>`, `%Subject: ${subject}\r%`]);
  await beforeRouting?.(r.rows[0]!.id);
  await routing.route(r.rows[0]!.id);
  return r.rows[0]!.id;
}

describe('SMTP in, IMAP out (imapflow)', () => {
  it('a delivered message is in INBOX, byte for byte, and its flags persist across sessions and replicas', async () => {
    const id = await sendAndRoute('first');
    const stored = (await db.pool.query<{ raw: Buffer }>('SELECT raw FROM messages WHERE id = $1', [id])).rows[0]!.raw;
    const a = client(imapA);
    await a.connect();
    const lock = await a.getMailboxLock('INBOX');
    const msg = await a.fetchOne('*', { source: true, envelope: true, flags: true, uid: true });
    expect(msg && msg.envelope?.subject).toBe('first');
    expect(msg && msg.source?.equals(stored)).toBe(true);
    await a.messageFlagsAdd('*', ['\\Seen', '$Important']);
    lock.release();
    await a.logout();
    const b = client(imapB);
    await b.connect();
    await b.mailboxOpen('INBOX');
    const again = await b.fetchOne('*', { flags: true });
    expect(again && [...again.flags!].sort()).toEqual(['$Important', '\\Seen']);
    await b.logout();
  });

  it('IDLE on one replica hears a delivery within 1 s and another replica\'s flag change', async () => {
    const idler = client(imapA);
    await idler.connect();
    await idler.mailboxOpen('INBOX');
    const before = idler.mailbox && typeof idler.mailbox !== 'boolean' ? idler.mailbox.exists : 0;
    const exists = new Promise<number>((resolve) => idler.on('exists', (e: { count: number }) => resolve(e.count)));
    const flags = new Promise<string[]>((resolve) => idler.on('flags', (e: { flags: Set<string> }) => resolve([...e.flags])));
    void idler.idle().catch(() => {}); // resolves when IDLE ends (at logout)
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await sendAndRoute('pushed');
    expect(await exists).toBe(before + 1);
    expect(Date.now() - started).toBeLessThan(1_000 + 500);
    const other = client(imapB);
    await other.connect();
    await other.mailboxOpen('INBOX');
    await other.messageFlagsAdd('*', ['\\Flagged']);
    expect(await flags).toContain('\\Flagged');
    await other.logout();
    await idler.logout();
  });

  it('MOVE, APPEND and CONDSTORE through imapflow', async () => {
    const c = client(imapA);
    await c.connect();
    await c.mailboxOpen('INBOX');
    const moved = await c.messageMove('1', 'Archive');
    expect(moved && moved.uidMap?.size).toBe(1);
    const appended = await c.append('Drafts', Buffer.from('Subject: draft\r\n\r\nwork in progress\r\n'), ['\\Draft']);
    expect(appended && appended.uid).toBe(1);
    const status = await c.status('Archive', { messages: true, highestModseq: true });
    expect(status && status.messages).toBe(1);
    expect(Number(status && status.highestModseq)).toBeGreaterThan(0);
    await c.logout();
  });

  it('POP3 and IMAP agree on INBOX, and a POP3 DELE is an IMAP EXPUNGE', async () => {
    const c = client(imapA);
    await c.connect();
    await c.mailboxOpen('INBOX');
    const n = typeof c.mailbox !== 'boolean' ? c.mailbox.exists : -1;
    const expunged = new Promise<number>((resolve) => c.on('expunge', (e: { seq: number }) => resolve(e.seq)));
    void c.idle().catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    const p = await RawClient.connectTls(pop3.app.tlsPort!);
    await p.line();
    expect(await p.cmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString('base64')}`)).toMatch(/^\+OK/);
    expect(await p.cmd('STAT')).toMatch(new RegExp(`^\\+OK ${n} `));
    expect(await p.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await p.cmd('QUIT')).toMatch(/^\+OK/);
    expect(await expunged).toBe(1);
    await waitFor(async () => (typeof c.mailbox !== 'boolean' && c.mailbox.exists === n - 1) || null, { timeoutMs: 2_000 });
    await c.logout();
  });
});

describe('delivery to Junk', () => {
  it('routing files what the spam checks flagged in Junk; INBOX over IMAP and POP3 does not show it', async () => {
    const pop3Count = async () => {
      const p = await RawClient.connectTls(pop3.app.tlsPort!);
      await p.line();
      expect(await p.cmd(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString('base64')}`)).toMatch(/^\+OK/);
      const stat = await p.cmd('STAT');
      expect(await p.cmd('QUIT')).toMatch(/^\+OK/);
      return Number(/^\+OK (\d+) /.exec(stat)![1]);
    };
    const before = await pop3Count();
    // DMARC quarantine marks the message with X-Spam-Flag: YES on top (migration 0015); so does
    // an upstream filter. smtp-ingress sees the field when it commits and stores junk (0025).
    const quarantined = await sendAndRoute('quarantined', 'X-Spam-Flag: YES\r\n');
    // rspamd's "add header" verdict, as smtp-ingress records it: messages.spam (migration 0016)
    // and junk; no rspamd runs in this test, so the verdict is written where ingress would write it.
    const verdict = { checked: true, action: 'add header', score: 9.5, required: 6, symbols: { BAYES_SPAM: 5 } };
    await sendAndRoute('scored', '', (id) => db.pool.query('UPDATE messages SET spam = $2, junk = true WHERE id = $1', [id, JSON.stringify(verdict)]));
    // The delivery trigger goes by junk alone when it is set...
    await sendAndRoute('marked', '', (id) => db.pool.query('UPDATE messages SET junk = true WHERE id = $1', [id]));
    // ...and reads the stored message as before 0025 when it is not (stored by something else,
    // or before the migration): the verdict, or the header field.
    await sendAndRoute('rewritten', '', (id) => db.pool.query('UPDATE messages SET spam = $2, junk = NULL WHERE id = $1', [id, JSON.stringify({ ...verdict, action: 'rewrite subject' })]));
    await sendAndRoute('legacy', 'X-Spam-Flag:\r\n  yes\r\n', (id) => db.pool.query('UPDATE messages SET junk = NULL WHERE id = $1', [id]));
    // Not spam: a clean verdict, and X-Spam-Flag: NO.
    const clean = await sendAndRoute('clean', 'X-Spam-Flag: NO\r\n', (id) => db.pool.query('UPDATE messages SET spam = $2 WHERE id = $1', [id, JSON.stringify({ ...verdict, action: 'no action', score: 0.1 })]));
    const junk = async (id: string) => (await db.pool.query<{ junk: boolean | null }>('SELECT junk FROM messages WHERE id = $1', [id])).rows[0]!.junk;
    expect([await junk(quarantined), await junk(clean)]).toEqual([true, false]);

    const c = client(imapA);
    await c.connect();
    const subjects = async (folder: string) => {
      const lock = await c.getMailboxLock(folder);
      try {
        const out: string[] = [];
        for await (const m of c.fetch('1:*', { envelope: true })) out.push(m.envelope?.subject ?? '');
        return out;
      } finally {
        lock.release();
      }
    };
    expect((await subjects('Junk')).sort()).toEqual(['legacy', 'marked', 'quarantined', 'rewritten', 'scored']);
    const inbox = await subjects('INBOX');
    expect(inbox).toContain('clean');
    expect(inbox.filter((x) => ['quarantined', 'scored', 'marked', 'rewritten', 'legacy'].includes(x))).toEqual([]);
    await c.logout();
    expect(await pop3Count()).toBe(before + 1);
  });
});
