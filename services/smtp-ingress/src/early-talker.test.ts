// Early talkers (issue 13; postscreen's pregreet and pipelining tests) over raw sockets against
// the service: a client that sends more after EHLO/HELO before our reply, while PIPELINING was
// not yet advertised, is refused like one that talks before the greeting (421 4.7.0, counted as
// a connect-stage refusal, logged). Clients that wait for the EHLO reply and then pipeline
// (RFC 2920), STARTTLS, BDAT and the submission listener are not affected.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@hopmail/test-kit';
import { checkedClients, countMessages, HOSTNAME, SmtpClient, simpleMessage, startIngress, writeCertificate, type TestIngress } from '../test/helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopmail-early-talker-'));
const EARLY = `421 4.7.0 ${HOSTNAME} You talk too soon: command sent before the reply to EHLO/HELO`;
let t: TestIngress;
const clients = checkedClients();

beforeAll(async () => {
  const cert = writeCertificate(dir, 'tls', [HOSTNAME, '127.0.0.1']);
  t = await startIngress({ env: { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, TLS_RELOAD_POLL_MS: '0', SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0' } });
});
afterAll(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(port = t.port): Promise<SmtpClient> {
  const c = await SmtpClient.connect(port);
  clients.push(c);
  return c;
}

async function refusals(reason: string): Promise<number> {
  const m = await t.registry.getSingleMetric('hopmail_smtp_rejections_total')!.get();
  return m.values.find((v) => v.labels.stage === 'connect' && v.labels.reason === reason)?.value ?? 0;
}

const earlyLogs = (test: string) => t.logs.filter((l) => l.event === 'smtp-ingress.early-talker' && l.test === test);

describe('pipelining before the reply to EHLO/HELO (MX listener)', () => {
  it('EHLO and MAIL in one write: the EHLO reply, then 421 4.7.0 and close; MAIL is not run; counted and logged', async () => {
    const before = await refusals('early-talker-pipelining');
    const c = await connect();
    c.write('EHLO bot.test\r\nMAIL FROM:<spam@bot.test>\r\nRCPT TO:<alice@example.org>\r\n');
    expect(await c.reply()).toMatch(/^250-/);
    expect(await c.reply()).toBe(EARLY);
    await c.waitClosed();
    expect(c.unread).toBe(0);
    expect(await refusals('early-talker-pipelining')).toBe(before + 1);
    expect(earlyLogs('pipelining').at(-1)).toMatchObject({ listener: 'mx', remoteIp: '127.0.0.1' });
    expect(t.logs.some((l) => l.event === 'smtp-ingress.mail-rejected' || l.event === 'smtp-ingress.rcpt-rejected')).toBe(false);
  });

  it('HELO followed by a command in the same write: refused (HELO offers no extensions at all)', async () => {
    const c = await connect();
    c.write('HELO bot.test\r\nMAIL FROM:<spam@bot.test>\r\n');
    expect(await c.reply()).toBe(`250 ${HOSTNAME} Hello [127.0.0.1]`);
    expect(await c.reply()).toBe(EARLY);
    await c.waitClosed();
  });

  it('a partial command after EHLO (its line not finished when the reply leaves) is refused too', async () => {
    const c = await connect();
    c.write('EHLO bot.test\r\nMAIL FR');
    expect(await c.reply()).toMatch(/^250-/);
    expect(await c.reply()).toBe(EARLY);
    await c.waitClosed();
  });

  it('a blind EHLO and QUIT (monitoring probes) is answered 250, 221, not refused', async () => {
    const before = await refusals('early-talker-pipelining');
    const c = await connect();
    c.write('EHLO probe.test\r\nQUIT\r\n');
    expect(await c.reply()).toMatch(/^250-/);
    expect(await c.reply()).toMatch(/^221 2\.0\.0 /);
    await c.waitClosed();
    expect(await refusals('early-talker-pipelining')).toBe(before);
  });

  it('EHLO, wait for the reply, then MAIL/RCPT/DATA pipelined (RFC 2920) and the message: accepted', async () => {
    const before = await countMessages(t.pool);
    const c = await connect();
    expect(await c.cmd('EHLO client.test')).toMatch(/^250-.*\n250-PIPELINING\n/);
    c.write('MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n');
    expect(await c.reply()).toMatch(/^250 2\.1\.0 /);
    expect(await c.reply()).toMatch(/^250 2\.1\.5 /);
    expect(await c.reply()).toMatch(/^250 2\.1\.5 /);
    expect(await c.reply()).toMatch(/^354 /);
    c.write(simpleMessage('pipelined'));
    expect(await c.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    // The next transaction in one group, ending with QUIT.
    c.write('MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.org>\r\nBDAT 5 LAST\r\nHi!\r\nQUIT\r\n');
    expect(await c.reply()).toMatch(/^250 2\.1\.0 /);
    expect(await c.reply()).toMatch(/^250 2\.1\.5 /);
    expect(await c.reply()).toMatch(/^250 2\.0\.0 /);
    expect(await c.reply()).toMatch(/^221 /);
    expect(await countMessages(t.pool)).toBe(before + 2);
  });

  it('nodemailer (pipelines MAIL/RCPT after the EHLO reply) sends as before', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.port, secure: false, ignoreTLS: true, name: 'client.test', pool: false });
    const info = await transport.sendMail({ envelope: { from: 'sender@remote.test', to: ['alice@example.org', 'bob@example.org'] }, raw: 'From: <sender@remote.test>\r\nSubject: nodemailer\r\n\r\nHello.\r\n' });
    expect(info.accepted).toEqual(['alice@example.org', 'bob@example.org']);
    transport.close();
  });

  it('STARTTLS on the MX: EHLO, STARTTLS, the handshake, EHLO again and a pipelined group inside TLS are accepted', async () => {
    const c = await connect();
    expect(await c.cmd('EHLO client.test')).toMatch(/STARTTLS/);
    expect(await c.cmd('STARTTLS')).toMatch(/^220 /);
    const s = await c.startTls({ servername: HOSTNAME });
    clients.push(s);
    expect(await s.cmd('EHLO client.test')).toMatch(/^250-/);
    s.write('MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n');
    expect(await s.reply()).toMatch(/^250 /);
    expect(await s.reply()).toMatch(/^250 /);
    expect(await s.reply()).toMatch(/^354 /);
    s.write(simpleMessage('tls'));
    expect(await s.reply()).toMatch(/^250 2\.0\.0 /);
  });

  it('inside TLS PIPELINING is advertised anew: EHLO and MAIL in one write right after the handshake are refused', async () => {
    const c = await connect();
    expect(await c.cmd('EHLO client.test')).toMatch(/^250-/);
    expect(await c.cmd('STARTTLS')).toMatch(/^220 /);
    const s = await c.startTls({ servername: HOSTNAME });
    clients.push(s);
    s.write('EHLO bot.test\r\nMAIL FROM:<spam@bot.test>\r\n');
    expect(await s.reply()).toMatch(/^250-/);
    expect(await s.reply()).toBe(EARLY);
  });

  it('the submission listener is not screened: EHLO and NOOP in one write are both answered', async () => {
    const c = await connect(t.app.ports.submission!);
    c.write('EHLO mua.test\r\nNOOP\r\n');
    expect(await c.reply()).toMatch(/^250-/);
    expect(await c.reply()).toBe('250 2.0.0 OK');
    expect(c.closed).toBe(false);
  });
});

describe('configuration', () => {
  it('SMTP_REFUSE_EARLY_PIPELINING=false: EHLO and MAIL in one write are served in order', async () => {
    const off = await startIngress({ db: t.db, env: { SMTP_REFUSE_EARLY_PIPELINING: 'false' } });
    try {
      const c = await SmtpClient.connect(off.port);
      clients.push(c);
      c.write('EHLO client.test\r\nMAIL FROM:<sender@remote.test>\r\n');
      expect(await c.reply()).toMatch(/^250-/);
      expect(await c.reply()).toMatch(/^250 2\.1\.0 /);
    } finally {
      await off.stop();
    }
  });

  it('talking before the greeting (SMTP_GREETING_DELAY_MS) is counted and logged the same way', async () => {
    const delayed = await startIngress({ db: t.db, env: { SMTP_GREETING_DELAY_MS: '300' } });
    try {
      const c = await SmtpClient.open(delayed.port);
      clients.push(c);
      c.write('EHLO early.test\r\n');
      expect(await c.reply()).toMatch(/^421 4\.7\.0 .*talk too soon/);
      await c.waitClosed();
      await waitFor(async () => delayed.logs.some((l) => l.event === 'smtp-ingress.early-talker' && l.test === 'pregreet'), { what: 'the early-talker log line' });
      const m = await delayed.registry.getSingleMetric('hopmail_smtp_rejections_total')!.get();
      expect(m.values.find((v) => v.labels.stage === 'connect' && v.labels.reason === 'early-talker-pregreet')?.value).toBe(1);
    } finally {
      await delayed.stop();
    }
  });
});

