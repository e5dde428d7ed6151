// One delivery with the MX lookup going through the real dns-cache service (its own process,
// forwarding to the fake authoritative DNS), as in production.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { baseUrls, createTestDatabase, freePort, redisPrefix, startFakeDns, startFakeMx, startServiceProcess, waitFor, type FakeDns, type FakeMx, type ServiceProcess, type TestDatabase } from '@hopmail/test-kit';
import { relayEnv } from '../test/relay-app.ts';

let db: TestDatabase;
let dns: FakeDns;
let mx: FakeMx;
const procs: ServiceProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  mx = await startFakeMx(['127.0.0.71']);
  dns = await startFakeDns({
    host: '127.0.0.70',
    records: [
      { name: 'cached.test', type: 'MX', data: { preference: 10, exchange: 'mx.cached.test' } },
      { name: 'mx.cached.test', type: 'A', data: '127.0.0.71' },
    ],
  });
});

afterAll(async () => {
  for (const p of procs.reverse()) await p.kill('SIGTERM');
  await mx?.stop();
  await dns?.stop();
  await db?.drop();
});

it('resolves the MX through dns-cache and delivers', async () => {
  const prefix = redisPrefix();
  const common = { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: prefix, HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0' };
  const dnsPort = await freePort('127.0.0.72');
  const cache = startServiceProcess('dns-cache', { ...common, DNS_HOST: '127.0.0.72', DNS_PORT: String(dnsPort), DNS_UPSTREAMS: `${dns.host}:${dns.port}` });
  procs.push(cache);
  await cache.ready;
  const relay = startServiceProcess(
    'outbound-relay',
    relayEnv({ db, prefix, mx, dns: { host: '127.0.0.72', port: dnsPort }, env: { HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0', RELAY_ALLOW_LOOPBACK_MX: 'true', RELAY_SCHEDULER_INTERVAL_MS: '100' } }),
  );
  procs.push(relay);
  await relay.ready;
  const id = newMessageId();
  await insertMessage(db.pool, { id, raw: Buffer.from(`Subject: ${id}\r\n\r\nhi\r\n`), mailFrom: 'alice@local.test', recipients: ['bob@cached.test'] });
  await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
  await waitFor(async () => (await db.pool.query(`SELECT status FROM recipients WHERE message_id = $1`, [id])).rows[0].status === 'delivered', { timeoutMs: 20_000, what: 'delivery' });
  expect(mx.transactions).toHaveLength(1);
  expect(dns.queries.some((q) => q.name === 'cached.test' && q.type === 'MX')).toBe(true);
}, 40_000);
