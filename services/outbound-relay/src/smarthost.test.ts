// Smarthost with AUTH and per-domain routing, loop protection with loopback not allowed, and
// the per-host connection limit shared through Redis.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, freePort, redisPrefix, startFakeDns, startFakeMx, waitFor, type FakeDns, type FakeMx, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { createLimits } from './adapters/limits.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

const SMART = '127.0.0.41';
const DIRECT = '127.0.0.42';
const PASSWORD = 's3cret-Pa55';
let db: TestDatabase;
let redis: Redis;
let dns: FakeDns;
let mx: FakeMx;
let smart: SMTPServer;
let smartPort: number;
const smartTx: { user: string | undefined; to: string[]; secure: boolean }[] = [];
let relay: TestRelay;
let prefix: string;

beforeAll(async () => {
  db = await createTestDatabase();
  prefix = redisPrefix();
  redis = queueRedis(baseUrls().redisUrl);
  mx = await startFakeMx([DIRECT]);
  smartPort = await freePort(SMART);
  smart = new SMTPServer({
    logger: false,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, cb) {
      if (auth.username === 'relayuser' && auth.password === PASSWORD) return cb(null, { user: auth.username });
      cb(Object.assign(new Error('5.7.8 bad credentials'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      stream.resume();
      stream.on('end', () => {
        smartTx.push({ user: session.user as string | undefined, to: session.envelope.rcptTo.map((r) => r.address), secure: session.secure });
        cb(null, 'ok');
      });
    },
  });
  await new Promise<void>((r) => smart.listen(smartPort, SMART, () => r()));
  dns = await startFakeDns({ host: '127.0.0.55', records: [{ name: 'direct.test', type: 'MX', data: { preference: 10, exchange: 'mx.direct.test' } }, { name: 'mx.direct.test', type: 'A', data: DIRECT }] });
  relay = await startRelay({ db, prefix, redis, mx, dns, logLevel: 'debug', env: {
    DNS_TIMEOUT_MS: '500',
    RELAY_ALLOW_LOOPBACK_MX: 'false',
    RELAY_SMARTHOST: `${SMART}:${smartPort}`,
    RELAY_SMARTHOST_DOMAINS: 'viasmart.test,other-smart.test',
    RELAY_SMARTHOST_USER: 'relayuser',
    RELAY_SMARTHOST_PASSWORD: PASSWORD,
    RELAY_SCHEDULER_INTERVAL_MS: '50',
    RELAY_THROTTLE_DELAY_MS: '100',
    RELAY_MAX_CONNECTIONS_PER_HOST: '1',
    RELAY_POOL_IDLE_MS: '0',
    LOG_LEVEL: 'debug',
  } });
});

afterAll(async () => {
  await relay?.stop();
  await new Promise<void>((r) => (smart ? smart.close(() => r()) : r()));
  await mx?.stop();
  await dns?.stop();
  await redis?.quit();
  await db?.drop();
});

async function submit(rcpts: string[]): Promise<string> {
  const id = newMessageId();
  await insertMessage(db.pool, { id, raw: Buffer.from(`Subject: ${id}\r\n\r\nhi\r\n`), mailFrom: 'alice@local.test', recipients: rcpts });
  await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
  return id;
}
const status = async (id: string) => (await db.pool.query(`SELECT status, last_reply, attempts FROM recipients WHERE message_id = $1`, [id])).rows[0];

it('sends the configured domains through the smarthost with AUTH over STARTTLS, never logging the password', async () => {
  const id = await submit(['bob@viasmart.test']);
  await waitFor(async () => (await status(id)).status === 'delivered', { what: 'smarthost delivery' });
  expect(smartTx).toEqual([{ user: 'relayuser', to: ['bob@viasmart.test'], secure: true }]);
  expect(relay.text()).not.toContain(PASSWORD);
});

it('delivers other domains directly, and an MX on loopback is a loop (5.4.6) when loopback is not allowed', async () => {
  const id = await submit(['bob@direct.test']);
  await waitFor(async () => (await status(id)).status === 'bounced', { what: 'loop bounce' });
  expect((await status(id)).last_reply).toMatch(/^554 5\.4\.6 .*127\.0\.0\.42/);
  expect(mx.transactions).toHaveLength(0);
});

it('waits for a free connection slot of the destination (limit shared through Redis) without counting an attempt', async () => {
  const other = createLimits(redis, { prefix, maxPerHost: 1, ratePerMinute: 0, leaseTtlMs: 60_000 });
  const lease = await other.acquire(SMART); // another replica holds the only slot
  expect(lease).toBeTruthy();
  const id = await submit(['carol@other-smart.test']);
  await waitFor(async () => relay.text().split('\n').some((l) => l.includes('"outbound-relay.throttled"') && l.includes(id)), { what: 'throttled' });
  await new Promise((r) => setTimeout(r, 300));
  const s = await status(id);
  expect(s.status).toBe('relay');
  expect(s.attempts).toBe(0);
  await other.release(lease!);
  await waitFor(async () => (await status(id)).status === 'delivered', { what: 'delivery after the slot was freed' });
});
