// A real client: nodemailer, as the end-to-end test and the bench use it.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import nodemailer from 'nodemailer';
import { waitFor } from '@hopmail/test-kit';
import { startIngress, type TestIngress } from '../test/helpers.ts';

let t: TestIngress;
let queueRedis: Redis;
let queue: Queue;
beforeAll(async () => {
  t = await startIngress();
  queueRedis = new Redis(t.config.REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue('route-message', { connection: queueRedis, prefix: t.prefix });
});
afterAll(async () => {
  await queue?.close();
  queueRedis?.disconnect();
  await t?.stop();
});

function transport() {
  return nodemailer.createTransport({ host: '127.0.0.1', port: t.port, secure: false, ignoreTLS: true, name: 'client.test', pool: false });
}

/** Stored bytes with our Received: header (the first field, three lines) removed. */
async function storedWithoutReceived(id: string): Promise<Buffer> {
  const r = await t.pool.query('SELECT raw FROM messages WHERE id = $1', [id]);
  const raw = r.rows[0].raw as Buffer;
  expect(raw.toString('latin1')).toMatch(new RegExp(`^Received: from client\\.test \\(\\[127\\.0\\.0\\.1\\]\\)\\r\\n\\tby mx\\.test\\.example \\(Hopmail\\) with ESMTP id ${id}[;\\r]`));
  const end = raw.indexOf('+0000\r\n') + 7;
  return raw.subarray(end);
}

it('stores what nodemailer sends byte for byte (dots, 8-bit UTF-8, 998-octet lines, an attachment) and queues route-message', async () => {
  const to = ['alice@example.org', 'bob@example.org'];
  // Composed by hand so the text part really is 8-bit (RFC 6152), with lines that need
  // dot-stuffing on the wire and a 998-octet line (RFC 5322 §2.1.1's limit).
  const attachment = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 256)).toString('base64').replace(/.{76}/g, '$&\r\n');
  const raw = Buffer.from(
    [
      'From: Sender <sender@remote.test>',
      'To: alice@example.org, bob@example.org',
      'Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=',
      'Message-ID: <nodemailer-1@remote.test>',
      'Date: Sat, 28 Nov 2026 08:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      '.starts with a dot',
      '..two dots',
      '.',
      'üñíçødé body',
      'x'.repeat(998),
      '--b1',
      'Content-Type: application/octet-stream; name=blob.bin',
      'Content-Transfer-Encoding: base64',
      '',
      attachment,
      '--b1--',
      '',
    ].join('\r\n'),
    'utf8',
  );
  const mail = { to };
  const info = await transport().sendMail({ envelope: { from: 'sender@remote.test', to: mail.to }, raw });
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  expect(info.accepted).toEqual(mail.to);
  expect(Buffer.compare(await storedWithoutReceived(id), raw)).toBe(0);
  const row = (await t.pool.query('SELECT header_message_id, body_8bit, mail_from FROM messages WHERE id = $1', [id])).rows[0];
  expect(row).toEqual({ header_message_id: '<nodemailer-1@remote.test>', body_8bit: true, mail_from: 'sender@remote.test' });
  const rcpts = (await t.pool.query('SELECT address, status FROM recipients WHERE message_id = $1 ORDER BY address', [id])).rows;
  expect(rcpts).toEqual([
    { address: 'alice@example.org', status: 'queued' },
    { address: 'bob@example.org', status: 'queued' },
  ]);
  // Added just after the 250 (the reply does not wait for Redis).
  const job = await waitFor(async () => queue.getJob(id), { what: 'the route-message job' });
  expect(job?.name).toBe('route-message');
  expect(job?.data).toEqual({ messageId: id });
});

it('reports rejected recipients and delivers to the rest', async () => {
  const info = await transport().sendMail({
    from: 'sender@remote.test',
    to: ['carol@example.org', 'nobody@example.org', 'someone@elsewhere.test'],
    subject: 'partial',
    text: 'hi',
  });
  expect(info.accepted).toEqual(['carol@example.org']);
  expect(info.rejected).toEqual(['nobody@example.org', 'someone@elsewhere.test']);
  const errors = (info as unknown as { rejectedErrors: { response: string }[] }).rejectedErrors.map((e) => e.response);
  expect(errors[0]).toMatch(/^550 5\.1\.1 /);
  expect(errors[1]).toMatch(/^554 5\.7\.1 /);
});

it('refuses an oversized message before sending it (SIZE) and nothing is stored', async () => {
  const t2 = await startIngress({ db: t.db, env: { SMTP_MAX_MESSAGE_SIZE: '4096' } });
  try {
    const tr = nodemailer.createTransport({ host: '127.0.0.1', port: t2.port, secure: false, ignoreTLS: true, name: 'client.test' });
    await expect(tr.sendMail({ from: 'sender@remote.test', to: 'alice@example.org', subject: 'big', text: 'y'.repeat(10_000) })).rejects.toMatchObject({ responseCode: 552 });
  } finally {
    await t2.stop();
  }
});
