// End to end: the services as separate processes, a real SMTP client, real PostgreSQL and
// Redis. Mail lands in the mailbox exactly once with its bytes intact, through a kill -9 of
// routing and a FLUSHALL of Redis.
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateRedis, waitFor } from '@hopmail/test-kit';
import { Redis } from 'ioredis';
import { startCluster, stripFirstReceived, type Cluster } from './cluster.ts';

async function compose(options: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new MailComposer(options).compile().build();
}

/** The message set the issue asks for: dot lines, 8-bit UTF-8, 998-octet lines, a 10 MiB attachment. */
async function buildMessages(count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const variant = i % 4;
    const headers = { 'X-Seq': String(i) };
    let raw: Buffer;
    if (variant === 0) {
      raw = await compose({ from: 'sender@remote.test', to: 'user@e2e.test', subject: `dots ${i}`, headers, text: `.leading dot\r\n..two dots\r\n.\r\nafter a lone dot\r\n` });
    } else if (variant === 1) {
      // A real 8-bit body (Content-Transfer-Encoding: 8bit), which MailComposer would encode.
      raw = Buffer.from(
        `From: sender@remote.test\r\nTo: user@e2e.test\r\nSubject: utf8 ${i}\r\nX-Seq: ${i}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln — ✉️ 日本語\r\n.dot and ümlaut\r\n`,
        'utf8',
      );
    } else if (variant === 2) {
      const long = 'x'.repeat(998);
      raw = Buffer.from(`From: sender@remote.test\r\nTo: user@e2e.test\r\nSubject: long ${i}\r\nX-Seq: ${i}\r\n\r\n${long}\r\n.${'y'.repeat(997)}\r\n${long}\r\n`, 'latin1');
    } else {
      raw = await compose({ from: 'sender@remote.test', to: 'user@e2e.test', subject: `plain ${i}`, headers, text: `message ${i}\r\n${randomBytes(512).toString('base64')}\r\n` });
    }
    out.push(raw);
  }
  // One 10 MiB attachment.
  out.push(await compose({ from: 'sender@remote.test', to: 'user@e2e.test', subject: 'big', headers: { 'X-Seq': String(count) }, text: 'see attachment', attachments: [{ filename: 'blob.bin', content: randomBytes(10 * 1024 * 1024) }] }));
  return out;
}

async function sendAll(port: number, messages: Buffer[], onProgress?: (sent: number) => void): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 8, maxMessages: Infinity });
  let sent = 0;
  try {
    await Promise.all(
      messages.map(async (raw) => {
        await transport.sendMail({ envelope: { from: 'sender@remote.test', to: ['user@e2e.test'] }, raw });
        onProgress?.(++sent);
      }),
    );
  } finally {
    transport.close();
  }
}

async function mailbox(cluster: Cluster): Promise<Map<string, Buffer[]>> {
  const r = await cluster.db.pool.query<{ raw: Buffer }>(
    `SELECT m.raw FROM mailbox_messages mm JOIN mailboxes b ON b.id = mm.mailbox_id JOIN messages m ON m.id = mm.message_id WHERE b.address = 'user@e2e.test'`,
  );
  const bySeq = new Map<string, Buffer[]>();
  for (const { raw } of r.rows) {
    const seq = /\r\nX-Seq: (\d+)\r\n/.exec(raw.toString('latin1'))?.[1] ?? 'none';
    bySeq.set(seq, [...(bySeq.get(seq) ?? []), raw]);
  }
  return bySeq;
}

function expectExactlyOnce(box: Map<string, Buffer[]>, messages: Buffer[]) {
  expect(box.size).toBe(messages.length);
  messages.forEach((raw, i) => {
    const got = box.get(String(i));
    expect(got, `message ${i}`).toBeDefined();
    expect(got!.length, `copies of message ${i}`).toBe(1);
    expect(stripFirstReceived(got![0]!).equals(raw), `bytes of message ${i}`).toBe(true);
  });
}

async function setupMailbox(cluster: Cluster) {
  expect((await cluster.api('POST', '/v1/domains', { name: 'e2e.test' })).status).toBe(201);
  expect((await cluster.api('POST', '/v1/mailboxes', { address: 'user@e2e.test', password: 'correct horse battery' })).status).toBe(201);
}

describe('end to end', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ services: ['admin-api', 'smtp-ingress', 'routing'], env: { RECONCILE_INTERVAL_MS: '1000', RECONCILE_GRACE_MS: '2000' } });
    await setupMailbox(cluster);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('delivers 500 messages exactly once with their bytes intact, through a kill -9 of routing', async () => {
    const messages = await buildMessages(500);
    let killed = false;
    await sendAll(cluster.smtpPort, messages, (sent) => {
      if (sent === 200 && !killed) {
        killed = true;
        void cluster.procs.get('routing')!.kill('SIGKILL');
      }
    });
    expect(killed).toBe(true);
    await cluster.start('routing');
    await waitFor(async () => (await mailbox(cluster)).size === messages.length, { timeoutMs: 90_000, what: 'every message in the mailbox' });
    expectExactlyOnce(await mailbox(cluster), messages);
    const r = await cluster.api('GET', '/v1/mailboxes/user@e2e.test');
    expect(r.json.messageCount).toBe(messages.length);
    const pending = await cluster.db.pool.query(`SELECT count(*)::int AS n FROM recipients WHERE status <> 'delivered'`);
    expect(pending.rows[0].n).toBe(0);
  }, 180_000);
});

describe('end to end with Redis flushed', () => {
  let cluster: Cluster;
  let redis: { url: string; stop(): Promise<void> };
  beforeAll(async () => {
    redis = await startPrivateRedis();
    cluster = await startCluster({ services: ['admin-api', 'smtp-ingress'], redisUrl: redis.url, env: { RECONCILE_INTERVAL_MS: '500', RECONCILE_GRACE_MS: '500' } });
    await setupMailbox(cluster);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  it('FLUSHALL after accept and before routing loses nothing', async () => {
    const messages = (await buildMessages(40)).slice(0, 40);
    await sendAll(cluster.smtpPort, messages);
    const r = new Redis(redis.url);
    expect(await r.dbsize()).toBeGreaterThan(0);
    await r.flushall();
    r.disconnect();
    await cluster.start('routing');
    await waitFor(async () => (await mailbox(cluster)).size === messages.length, { timeoutMs: 60_000, what: 'every message after FLUSHALL' });
    expectExactlyOnce(await mailbox(cluster), messages);
  }, 120_000);
});
