import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, redisPrefix, startPrivateRedis, startServiceProcess, baseUrls, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { deliver, RawClient, seedMailbox, startTestApp, type TestApp } from '../test/support.ts';

let db: TestDatabase;
let prefix: string;
let a: TestApp;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  prefix = redisPrefix();
  env = {
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: prefix,
    AUTH_FAILURE_DELAY_MS: '0',
    RETR_CHUNK_BYTES: '1024',
    // This suite tests the maildrop over a plain socket; TLS and the refusal of plaintext
    // logins (the default) are tls.integration.test.ts.
    ALLOW_PLAINTEXT_AUTH: 'true',
  };
  a = await startTestApp(env);
});

afterAll(async () => {
  await a?.stop();
  await db?.drop();
});

let n = 0;
async function mailbox(messages: Buffer[] = []): Promise<{ id: string; address: string; ids: string[] }> {
  const address = `user${++n}@example.org`;
  const id = await seedMailbox(db.pool, address, 'pw ' + n);
  const ids: string[] = [];
  for (const m of messages) ids.push(await deliver(db.pool, id, address, m));
  return { id, address, ids };
}
const pw = (address: string) => 'pw ' + address.match(/^user(\d+)@/)![1];

async function login(address: string, app: TestApp = a): Promise<RawClient> {
  const c = await RawClient.connect(app.app.port);
  const r = await c.login(address, pw(address));
  expect(r).toMatch(/^\+OK /);
  return c;
}

async function rows(mailboxId: string): Promise<string[]> {
  const r = await db.pool.query<{ message_id: string }>('SELECT message_id::text FROM mailbox_messages WHERE mailbox_id = $1 ORDER BY id', [mailboxId]);
  return r.rows.map((x) => x.message_id);
}

const DOTS = Buffer.from('From: a@example.net\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n.\r\n');
// A line starting with '.' exactly at the 1024-byte chunk boundary, and one just after it.
const BOUNDARY = Buffer.concat([Buffer.from('Subject: boundary\r\n\r\n'), Buffer.alloc(1024 - 21 - 2, 'x'), Buffer.from('\r\n.at boundary\r\n\r\n.\r\n')]);
const BINARY = Buffer.concat([Buffer.from('Subject: 8bit\r\n\r\n'), Buffer.from([0xff, 0x00, 0xe9, 0x0d, 0x0a, 0x2e, 0x2e, 0x0d, 0x0a])]);

describe('reading mail over a real socket', () => {
  it('RETR returns every message byte for byte, including dot lines and chunk boundaries', async () => {
    const big = Buffer.concat(Array.from({ length: 6_000 }, (_, i) => Buffer.from(i % 7 === 0 ? `.line ${i}\r\n` : `line ${i} ${'y'.repeat(i % 90)}\r\n`)));
    const msgs = [DOTS, BOUNDARY, BINARY, Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), big])];
    expect(BOUNDARY.subarray(1024, 1025).toString()).toBe('.');
    const box = await mailbox(msgs);
    const c = await login(box.address);
    expect(await c.cmd('STAT')).toBe(`+OK 4 ${msgs.reduce((s, m) => s + m.length, 0)}`);
    for (let i = 0; i < msgs.length; i++) {
      expect(await c.cmd(`RETR ${i + 1}`)).toBe(`+OK ${msgs[i]!.length} octets`);
      expect((await c.body()).equals(msgs[i]!), `message ${i + 1}`).toBe(true);
    }
    expect(await c.cmd('UIDL 1')).toBe(`+OK 1 ${box.ids[0]}`);
    expect(await c.cmd('TOP 1 2')).toBe('+OK top of message follows');
    expect((await c.body()).toString()).toBe('From: a@example.net\r\nSubject: dots\r\n\r\n.\r\n..\r\n');
    expect(await c.cmd('QUIT')).toBe('+OK Hopmail POP3 server signing off (4 messages left)');
    await c.closed();
  });

  it('answers pipelined commands in order', async () => {
    const box = await mailbox([DOTS, BINARY]);
    const c = await RawClient.connect(a.app.port);
    await c.line();
    c.send(`USER ${box.address}\r\nPASS ${pw(box.address)}\r\nLIST\r\nRETR 2\r\nDELE 1\r\nSTAT\r\nQUIT\r\n`);
    expect(await c.line()).toBe('+OK send PASS');
    expect(await c.line()).toMatch(/^\+OK .* has 2 messages/);
    expect(await c.line()).toBe(`+OK 2 messages (${DOTS.length + BINARY.length} octets)`);
    expect((await c.body()).toString()).toBe(`1 ${DOTS.length}\r\n2 ${BINARY.length}\r\n`);
    expect(await c.line()).toBe(`+OK ${BINARY.length} octets`);
    expect((await c.body()).equals(BINARY)).toBe(true);
    expect(await c.line()).toBe('+OK message 1 deleted');
    expect(await c.line()).toBe(`+OK 1 ${BINARY.length}`);
    expect(await c.line()).toBe('+OK Hopmail POP3 server signing off (1 message left)');
    await c.closed();
    expect(await rows(box.id)).toEqual([box.ids[1]]);
  });
});

describe('a client that stops reading', () => {
  it('while its RETRs are answered as they arrive: the replies stop at what the sockets hold, and every one comes once it reads again', async () => {
    // Messages read ahead whole (RETR_CHUNK_BYTES above their size): the listener's fast path.
    const r = await startTestApp({ ...env, RETR_CHUNK_BYTES: '65536', RETR_READ_AHEAD_BYTES: '1048576' });
    try {
      const msgs = Array.from({ length: 600 }, (_, i) => Buffer.from(`Subject: message ${i}\r\n\r\n` + `.line of message ${i}, to fill the sockets\r\n`.repeat(900)));
      const total = msgs.reduce((n, m) => n + m.length, 0);
      const box = await mailbox(msgs);
      const c = await login(box.address, r);
      expect(await c.cmd('RETR 1')).toBe(`+OK ${msgs[0]!.length} octets`);
      expect((await c.body()).equals(msgs[0]!)).toBe(true);
      const sent = async () => (await r.registry.getSingleMetric('hopmail_pop3_bytes_sent_total')!.get()).values[0]!.value;
      const before = await sent();
      c.socket.pause();
      // One command at a time, each its own packet, as a client reading in order sends them.
      for (let i = 2; i <= msgs.length; i++) {
        c.send(`RETR ${i}\r\n`);
        await new Promise((res) => setTimeout(res, 1));
      }
      let last = -1;
      await waitFor(async () => {
        const now = await sent();
        const still = now === last;
        last = now;
        return still;
      }, { intervalMs: 200 });
      // What the two sockets' buffers hold (a few MiB), not the 24 MiB asked for.
      expect(last - before).toBeLessThan(total / 2);
      c.socket.resume();
      for (let i = 1; i < msgs.length; i++) {
        expect(await c.line()).toBe(`+OK ${msgs[i]!.length} octets`);
        expect((await c.body()).equals(msgs[i]!), `message ${i + 1}`).toBe(true);
      }
      expect(await c.cmd('QUIT')).toMatch(/^\+OK /);
    } finally {
      await r.stop();
    }
  });
});

describe('maildrop semantics', () => {
  it('DELE then a dropped connection keeps the mail', async () => {
    const box = await mailbox([DOTS, BINARY]);
    const c = await login(box.address);
    expect(await c.cmd('DELE 1')).toBe('+OK message 1 deleted');
    expect(await c.cmd('DELE 2')).toBe('+OK message 2 deleted');
    c.close();
    await waitFor(async () => a.app.connections === 0, { what: 'session end' });
    expect(await rows(box.id)).toEqual(box.ids);
    // and the lock is gone
    const again = await login(box.address);
    expect(await again.cmd('STAT')).toMatch(/^\+OK 2 /);
    again.close();
  });

  it('DELE then QUIT removes the mailbox rows, keeps the messages rows, and quota figures follow', async () => {
    const box = await mailbox([DOTS, BINARY, BOUNDARY]);
    const c = await login(box.address);
    await c.cmd('DELE 1');
    await c.cmd('DELE 3');
    expect(await c.cmd('QUIT')).toBe('+OK Hopmail POP3 server signing off (1 message left)');
    await c.closed();
    expect(await rows(box.id)).toEqual([box.ids[1]]);
    const q = await db.pool.query('SELECT count(*)::int AS n, coalesce(sum(size), 0)::int AS bytes FROM mailbox_messages WHERE mailbox_id = $1', [box.id]);
    expect(q.rows[0]).toEqual({ n: 1, bytes: BINARY.length });
    const m = await db.pool.query('SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [box.ids]);
    expect(m.rows[0].n).toBe(3);
  });

  it('a second login gets [IN-USE], on this replica and on another one, until the first ends', async () => {
    const box = await mailbox([DOTS]);
    const b = await startTestApp(env);
    try {
      const first = await login(box.address);
      for (const app of [a, b]) {
        const second = await RawClient.connect(app.app.port);
        expect(await second.login(box.address, pw(box.address))).toBe('-ERR [IN-USE] maildrop already locked by another session');
        // still in AUTHORIZATION: may try again later on the same connection
        expect(await second.cmd('QUIT')).toBe('+OK Hopmail POP3 server signing off');
      }
      await first.cmd('QUIT');
      await first.closed();
      const third = await login(box.address, b);
      third.close();
    } finally {
      await b.stop();
    }
  });

  it('mail arriving mid-session is invisible and never deleted by that session', async () => {
    const box = await mailbox([DOTS, BINARY]);
    const c = await login(box.address);
    const late = await deliver(db.pool, box.id, box.address, BOUNDARY);
    expect(await c.cmd('STAT')).toBe(`+OK 2 ${DOTS.length + BINARY.length}`);
    expect(await c.cmd('LIST 3')).toBe('-ERR no such message');
    expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
    expect(await c.cmd('DELE 2')).toMatch(/^\+OK/);
    expect(await c.cmd('QUIT')).toBe('+OK Hopmail POP3 server signing off (maildrop empty)');
    expect(await rows(box.id)).toEqual([late]);
    const next = await login(box.address);
    expect(await next.cmd('STAT')).toBe(`+OK 1 ${BOUNDARY.length}`);
    next.close();
  });

  it('the lock frees itself when the process holding it dies (SIGKILL)', async () => {
    const box = await mailbox([DOTS]);
    const proc = startServiceProcess('pop3', { ...env, POP3_HOST: '127.0.0.1', POP3_PORT: '0', HEALTH_PORT: '0' });
    try {
      await proc.ready;
      const port = (proc.logs.find((l) => l.event === 'pop3.listening') as { port: number }).port;
      const c = await RawClient.connect(port);
      expect(await c.login(box.address, pw(box.address))).toMatch(/^\+OK/);
      expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
      const blocked = await RawClient.connect(a.app.port);
      expect(await blocked.login(box.address, pw(box.address))).toMatch(/^-ERR \[IN-USE\]/);
      blocked.close();
      await proc.kill('SIGKILL');
      const after = await waitFor(
        async () => {
          const t = await RawClient.connect(a.app.port);
          const r = await t.login(box.address, pw(box.address));
          if (r.startsWith('+OK')) return t;
          t.close();
          return null;
        },
        { what: 'lock release' },
      );
      expect(await after.cmd('STAT')).toBe(`+OK 1 ${DOTS.length}`);
      after.close();
    } finally {
      await proc.kill('SIGKILL');
    }
  });
});

describe('security and limits', () => {
  it('unknown user and wrong password get the same reply', async () => {
    const box = await mailbox();
    const replies: string[] = [];
    for (const [u, p] of [
      ['nobody@example.org', 'x'],
      [box.address, 'wrong'],
    ] as const) {
      const c = await RawClient.connect(a.app.port);
      replies.push(await c.login(u, p));
      c.close();
    }
    expect(replies).toEqual(['-ERR [AUTH] invalid user name or password', '-ERR [AUTH] invalid user name or password']);
  });

  it('per-account failure limit holds across replicas (Redis)', async () => {
    const shared = { ...env, REDIS_PREFIX: redisPrefix(), AUTH_MAX_FAILURES_PER_ACCOUNT: '2' };
    const r1 = await startTestApp(shared);
    const r2 = await startTestApp(shared);
    try {
      const box = await mailbox();
      for (const app of [r1, r2]) {
        const c = await RawClient.connect(app.app.port);
        expect(await c.login(box.address, 'wrong')).toBe('-ERR [AUTH] invalid user name or password');
        c.close();
      }
      const c = await RawClient.connect(r1.app.port);
      expect(await c.login(box.address, pw(box.address))).toBe('-ERR [AUTH] invalid user name or password');
      c.close();
      const keys = await r1.redis.keys(`${shared.REDIS_PREFIX}:login:authfail:*`);
      expect(keys.length).toBe(2);
      expect(await r1.redis.ttl(keys[0]!)).toBeGreaterThan(0);
    } finally {
      await r1.stop();
      await r2.stop();
    }
  });

  it('per-address failure limit', async () => {
    const r = await startTestApp({ ...env, REDIS_PREFIX: redisPrefix(), AUTH_MAX_FAILURES_PER_IP: '1' });
    try {
      const box = await mailbox();
      const c = await RawClient.connect(r.app.port);
      expect(await c.login('someone@example.org', 'x')).toMatch(/^-ERR \[AUTH\]/);
      expect(await c.cmd(`USER ${box.address}`)).toBe('+OK send PASS');
      expect(await c.cmd(`PASS ${pw(box.address)}`)).toBe('-ERR [AUTH] invalid user name or password');
      c.close();
    } finally {
      await r.stop();
    }
  });

  it('logins go on when Redis is down (per-connection limits still apply)', async () => {
    const redis = await startPrivateRedis();
    const r = await startTestApp({ ...env, REDIS_URL: redis.url, RATE_LIMIT_TIMEOUT_MS: '200' });
    try {
      const box = await mailbox([DOTS]);
      await redis.stop();
      const bad = await RawClient.connect(r.app.port);
      expect(await bad.login(box.address, 'wrong')).toBe('-ERR [AUTH] invalid user name or password');
      bad.close();
      const c = await login(box.address, r);
      expect(await c.cmd('STAT')).toBe(`+OK 1 ${DOTS.length}`);
      c.close();
    } finally {
      await r.stop();
      await redis.stop();
    }
  });

  it('closes after MAX_AUTH_FAILURES_PER_CONNECTION, delaying each failure', async () => {
    const r = await startTestApp({ ...env, REDIS_PREFIX: redisPrefix(), AUTH_FAILURE_DELAY_MS: '100', MAX_AUTH_FAILURES_PER_CONNECTION: '2' });
    try {
      const c = await RawClient.connect(r.app.port);
      const t0 = Date.now();
      expect(await c.login('x@example.org', 'a')).toBe('-ERR [AUTH] invalid user name or password');
      expect(await c.cmd('USER x@example.org')).toBe('+OK send PASS');
      expect(await c.cmd('PASS b')).toBe('-ERR [AUTH] invalid user name or password; too many failures, closing connection');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
      await c.closed();
    } finally {
      await r.stop();
    }
  });

  it('limits connections per address and in total', async () => {
    const r = await startTestApp({ ...env, MAX_CONNECTIONS_PER_IP: '2', MAX_CONNECTIONS: '3' });
    try {
      const open = [await RawClient.connect(r.app.port), await RawClient.connect(r.app.port)];
      for (const c of open) expect(await c.line()).toBe('+OK Hopmail POP3 server ready');
      const third = await RawClient.connect(r.app.port);
      expect(await third.line()).toBe('-ERR [SYS/TEMP] too many connections');
      await third.closed();
      open.forEach((c) => c.close());
      await waitFor(async () => r.app.connections === 0);
      const again = await RawClient.connect(r.app.port);
      expect(await again.line()).toBe('+OK Hopmail POP3 server ready');
      again.close();
    } finally {
      await r.stop();
    }
  });

  it('autologout after the idle timer deletes nothing', async () => {
    const r = await startTestApp({ ...env, IDLE_TIMEOUT_MS: '1000' });
    try {
      const box = await mailbox([DOTS]);
      const c = await login(box.address, r);
      expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
      expect(await c.line()).toBe('-ERR autologout; idle for too long');
      await c.closed();
      await waitFor(async () => r.app.connections === 0);
      expect(await rows(box.id)).toEqual(box.ids);
    } finally {
      await r.stop();
    }
  });

  it('stop() closes idle sessions with [SYS/TEMP], deleting nothing, and refuses new ones', async () => {
    const r = await startTestApp(env);
    const box = await mailbox([DOTS]);
    const c = await login(box.address, r);
    expect(await c.cmd('DELE 1')).toMatch(/^\+OK/);
    await r.stop();
    expect(await c.line()).toBe('-ERR [SYS/TEMP] server shutting down');
    await c.closed();
    expect(await rows(box.id)).toEqual(box.ids);
    const again = await login(box.address);
    again.close();
  });

  it('refuses plaintext logins when ALLOW_PLAINTEXT_AUTH=false', async () => {
    const r = await startTestApp({ ...env, ALLOW_PLAINTEXT_AUTH: 'false' });
    try {
      const c = await RawClient.connect(r.app.port);
      await c.line();
      // No certificate in this app: no STLS to point to, only port 995 (which it lacks too).
      expect(await c.cmd('USER a@example.org')).toBe('-ERR [AUTH] plaintext authentication is disabled; use TLS on port 995');
      expect(await c.cmd('AUTH PLAIN')).toBe('-ERR [AUTH] plaintext authentication is disabled; use TLS on port 995');
      c.close();
    } finally {
      await r.stop();
    }
  });

  it('answers -ERR to an overlong command and keeps the session', async () => {
    const c = await RawClient.connect(a.app.port);
    await c.line();
    expect(await c.cmd('USER ' + 'a'.repeat(5000))).toBe('-ERR line too long');
    expect(await c.cmd('CAPA')).toBe('+OK Capability list follows');
    expect((await c.body()).toString()).toContain('IMPLEMENTATION Hopmail\r\n');
    c.close();
  });
});
