// Connection limits, idle timeout and graceful shutdown: each needs its own settings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { SmtpClient, countMessages, repliesWithoutEnhancedCode, seedDirectory, sendMessage, simpleMessage, sleep, startIngress } from '../test/helpers.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDirectory(db.pool);
});
afterAll(async () => {
  await db?.drop();
});

describe('connection limits', () => {
  it('refuses one more than SMTP_MAX_CONNECTIONS_PER_IP and SMTP_MAX_CONNECTIONS with 421 4.7.0 and closes', async () => {
    const t = await startIngress({ db, env: { SMTP_MAX_CONNECTIONS: '3', SMTP_MAX_CONNECTIONS_PER_IP: '2' } });
    const open: SmtpClient[] = [];
    try {
      open.push(await SmtpClient.connect(t.port, '127.0.0.1', '127.0.0.1'));
      open.push(await SmtpClient.connect(t.port, '127.0.0.1', '127.0.0.1'));
      const third = await SmtpClient.open(t.port, '127.0.0.1', '127.0.0.1');
      expect(await third.reply()).toBe('421 4.7.0 mx.test.example Too many connections from 127.0.0.1, try again later');
      await third.waitClosed();
      // Another address still gets in, up to the total.
      open.push(await SmtpClient.connect(t.port, '127.0.0.1', '127.0.0.2'));
      const fourth = await SmtpClient.open(t.port, '127.0.0.1', '127.0.0.3');
      expect(await fourth.reply()).toBe('421 4.7.0 mx.test.example Too many connected clients, try again in a moment');
      await fourth.waitClosed();
      // A slot freed is a slot usable.
      open.shift()!.close();
      await waitFor(async () => t.app.ingress.sessions.size === 2, { what: 'the closed session to be released' });
      const again = await SmtpClient.connect(t.port, '127.0.0.1', '127.0.0.1');
      expect(await again.cmd('NOOP')).toBe('250 2.0.0 OK');
      open.push(again);
      expect(t.logs.filter((l) => l.event === 'smtp-ingress.connect-refused').map((l) => l.reason)).toEqual(['too-many-connections-from-ip', 'too-many-connections']);
      expect(t.app.ingress.sessions.size).toBe(3);
    } finally {
      for (const c of open) c.close();
      await t.stop();
    }
  });
});

describe('idle timeout', () => {
  it('says 421 4.4.2 and closes when the client goes quiet', async () => {
    const t = await startIngress({ db, env: { SMTP_IDLE_TIMEOUT_MS: '300' } });
    try {
      const c = await SmtpClient.connect(t.port);
      expect(await c.cmd('EHLO client.test')).toMatch(/^250 /m);
      const started = Date.now();
      expect(await c.reply(3000)).toBe('421 4.4.2 Timeout - closing connection');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      await c.waitClosed();
      // Mid-DATA too: nothing is stored.
      const d = await SmtpClient.connect(t.port);
      await d.cmd('EHLO client.test');
      await d.cmd('MAIL FROM:<a@remote.test>');
      await d.cmd('RCPT TO:<alice@example.org>');
      await d.cmd('DATA');
      const before = await countMessages(t.pool);
      d.write('Subject: slow\r\n\r\nhalf');
      expect(await d.reply(3000)).toBe('421 4.4.2 Timeout - closing connection');
      await d.waitClosed();
      await sleep(50);
      expect(await countMessages(t.pool)).toBe(before);
    } finally {
      await t.stop();
    }
  });
});

describe('graceful stop', () => {
  it('finishes the message being received, tells idle sessions 421 4.3.2, refuses new connections', async () => {
    const t = await startIngress({ db, env: { SMTP_CLOSE_TIMEOUT_MS: '5000' } });
    const idle = await SmtpClient.connect(t.port);
    await idle.cmd('EHLO client.test');
    const busy = await SmtpClient.connect(t.port);
    await busy.cmd('EHLO client.test');
    await busy.cmd('MAIL FROM:<a@remote.test>');
    await busy.cmd('RCPT TO:<alice@example.org>');
    await busy.cmd('DATA');
    busy.write('Subject: in flight\r\n\r\n');
    const before = await countMessages(t.pool);
    const stopped = t.app.stop();
    expect(await idle.reply()).toMatch(/^421 4\.3\.2 /);
    await idle.waitClosed();
    await sleep(100);
    busy.write('the rest\r\n.\r\n');
    expect(await busy.reply()).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(await busy.reply()).toMatch(/^421 4\.3\.2 /);
    await busy.waitClosed();
    await stopped;
    expect(await countMessages(t.pool)).toBe(before + 1);
    await expect(SmtpClient.open(t.port)).rejects.toThrow(/ECONNREFUSED/);
    expect(repliesWithoutEnhancedCode(idle.received)).toEqual([]);
    expect(repliesWithoutEnhancedCode(busy.received)).toEqual([]);
    // stop() was called by hand; release the rest.
    t.redis.disconnect();
    await t.pool.end();
  });

  it('a message accepted by a real client before stop is stored', async () => {
    const t = await startIngress({ db });
    try {
      const c = await SmtpClient.connect(t.port);
      expect(await sendMessage(c, 'a@remote.test', ['bob@example.org'], simpleMessage('before-stop'))).toMatch(/^250 /);
      c.close();
    } finally {
      await t.stop();
    }
  });
});
