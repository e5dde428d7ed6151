// "250 only after commit": PostgreSQL going away mid-session gives 451 4.3.0 (never 250,
// never 5xx) and the service recovers; Redis going away after the commit still gives 250.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseUrls, createTestDatabase, startTcpProxy, waitFor, type TcpProxy, type TestDatabase } from '@hopmail/test-kit';
import { SmtpClient, countMessages, repliesWithoutEnhancedCode, seedDirectory, sendMessage, simpleMessage, sleep, startIngress, type TestIngress } from '../test/helpers.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDirectory(db.pool);
});
afterAll(async () => {
  await db?.drop();
});

describe('PostgreSQL down', () => {
  let proxy: TcpProxy;
  let t: TestIngress;
  beforeAll(async () => {
    const u = new URL(db.url);
    proxy = await startTcpProxy(u.hostname, Number(u.port || 5432));
    t = await startIngress({ db, databaseUrl: proxy.url(db.url) });
  });
  afterAll(async () => {
    await t?.stop();
    await proxy?.close();
  });

  it('DATA gets 451 4.3.0 when the commit fails, and 250 again once PostgreSQL is back', async () => {
    const c = await SmtpClient.connect(t.port);
    await c.cmd('EHLO client.test');
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<alice@example.org>')).toMatch(/^250 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    const before = await countMessages(db.pool);
    proxy.down();
    c.write(simpleMessage('pg-down'));
    expect(await c.reply(10_000)).toBe('451 4.3.0 Temporary storage failure, try again later');
    expect(t.logs.some((l) => l.event === 'smtp-ingress.store-failed' && typeof l.msgId === 'string')).toBe(true);
    // RCPT lookups fail the same way: 451 4.3.0, never 550.
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<bob@example.org>', 10_000)).toBe('451 4.3.0 Temporary lookup failure, try again later');
    expect(await c.cmd('RCPT TO:<nobody@example.org>', 10_000)).toBe('451 4.3.0 Temporary lookup failure, try again later');
    expect(await countMessages(db.pool)).toBe(before);
    proxy.up();
    expect(await c.cmd('RCPT TO:<bob@example.org>', 10_000)).toMatch(/^250 2\.1\.5 /);
    expect(await c.cmd('RCPT TO:<nobody@example.org>')).toMatch(/^550 5\.1\.1 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    c.write(simpleMessage('pg-back'));
    expect(await c.reply(10_000)).toMatch(/^250 2\.0\.0 Ok: queued as /);
    expect(await countMessages(db.pool)).toBe(before + 1);
    expect(repliesWithoutEnhancedCode(c.received)).toEqual([]);
    expect(c.received).not.toMatch(/^5\d\d 5\.1\.1 .*bob/m);
    c.close();
  });

  it('a new session while PostgreSQL is down still gets its greeting and a 451 at RCPT', async () => {
    proxy.down();
    try {
      const c = await SmtpClient.connect(t.port);
      await c.cmd('EHLO client.test');
      await c.cmd('MAIL FROM:<a@remote.test>');
      expect(await c.cmd('RCPT TO:<carol@example.org>', 10_000)).toMatch(/^451 4\.3\.0 /);
      c.close();
    } finally {
      proxy.up();
    }
  });
});

describe('Redis down after the commit', () => {
  it('answers 250 (the message is safe) without waiting for Redis, logs smtp-ingress.enqueue-failed after SMTP_ENQUEUE_TIMEOUT_MS, and the job arrives once Redis is back', async () => {
    const r = new URL(baseUrls().redisUrl);
    const proxy = await startTcpProxy(r.hostname, Number(r.port || 6379));
    const t = await startIngress({ db, env: { REDIS_URL: proxy.url(baseUrls().redisUrl), SMTP_ENQUEUE_TIMEOUT_MS: '300' } });
    const { Queue } = await import('bullmq');
    const { Redis } = await import('ioredis');
    const conn = new Redis(baseUrls().redisUrl, { maxRetriesPerRequest: null });
    const q = new Queue('route-message', { connection: conn, prefix: t.prefix });
    try {
      // Warm up the queue connection first so that the outage is what fails: the warm-up's job
      // (added after its 250) must be in before the outage.
      const w = await SmtpClient.connect(t.port);
      const warm = await sendMessage(w, 'a@remote.test', ['alice@example.org'], simpleMessage('warm'));
      expect(warm).toMatch(/^250 /);
      w.close();
      await waitFor(async () => q.getJob(warm.split(' ').pop()!), { what: 'the warm-up job' });
      proxy.down();
      const c = await SmtpClient.connect(t.port);
      const reply = await sendMessage(c, 'a@remote.test', ['alice@example.org'], simpleMessage('redis-down'));
      expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
      const id = reply.split(' ').pop()!;
      expect((await db.pool.query('SELECT 1 FROM messages WHERE id = $1', [id])).rowCount).toBe(1);
      // This message's failure: on a loaded machine the warm-up's add can outlast the timeout
      // too (logged, then harmless when it lands, as its job above shows).
      const failed = (l: Record<string, unknown>) => l.event === 'smtp-ingress.enqueue-failed' && l.msgId === id;
      await waitFor(async () => t.logs.some(failed), { what: 'the enqueue failure logged' });
      expect(t.logs.find(failed)).toMatchObject({ level: 'warn', msgId: id });
      c.close();
      proxy.up();
      // ioredis replays the queued add on reconnect; job ids are message ids, so a second add by the reconciler would be harmless.
      let job = null;
      for (let i = 0; i < 100 && !job; i++) {
        job = await q.getJob(id);
        if (!job) await sleep(100);
      }
      expect(job?.data).toEqual({ messageId: id });
    } finally {
      await q.close();
      conn.disconnect();
      proxy.up();
      await t.stop();
      await proxy.close();
    }
  });
});
