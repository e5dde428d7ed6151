// Outbound connections from the configured source address of each family, an MX host's
// addresses in the configured order (RELAY_ADDRESS_ORDER), and happy-eyeballs fallback to
// the other family (RFC 8305). The fake MX reports the address each client came from.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '@hopmail/queue';
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, startFakeDns, startFakeMx, waitFor, type FakeDns, type FakeMx, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { commitMessage, recipientsOf } from '../test/mail.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

const MX4 = '127.0.0.41';
const DEAD4 = '127.0.0.49'; // nothing listens here: connection refused
const SOURCE4 = '127.0.0.77';
const SOA = { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 };

let db: TestDatabase;
let redis: Redis;
let dns: FakeDns;
let mx: FakeMx;
let relay: TestRelay;
let producer: ReturnType<typeof createProducer<'deliver-remote'>>;

beforeAll(async () => {
  db = await createTestDatabase();
  const prefix = redisPrefix();
  redis = queueRedis(baseUrls().redisUrl);
  mx = await startFakeMx([MX4, '::1']);
  const mxRec = (name: string, exchange: string) => ({ name, type: 'MX' as const, data: { preference: 10, exchange } });
  dns = await startFakeDns({
    host: '127.0.0.53',
    records: [
      { name: 'test', type: 'SOA', data: SOA },
      mxRec('dual.test', 'dual-mx.test'),
      { name: 'dual-mx.test', type: 'A', data: MX4 },
      { name: 'dual-mx.test', type: 'AAAA', data: '::1' },
      mxRec('broken4.test', 'broken4-mx.test'),
      { name: 'broken4-mx.test', type: 'A', data: DEAD4 },
      { name: 'broken4-mx.test', type: 'AAAA', data: '::1' },
      mxRec('v6.test', 'v6-mx.test'),
      { name: 'v6-mx.test', type: 'AAAA', data: '::1' },
    ],
  });
  relay = await startRelay({ db, prefix, redis, mx, dns, env: {
    DNS_TIMEOUT_MS: '500',
    DNS_TRIES: '1',
    RELAY_ALLOW_LOOPBACK_MX: 'true',
    RELAY_SCHEDULER_INTERVAL_MS: '50',
    RELAY_CONNECT_TIMEOUT_MS: '2000',
    RELAY_SOURCE_ADDRESS: SOURCE4,
    RELAY_SOURCE_ADDRESS6: '::1',
    RELAY_ADDRESS_ORDER: 'ipv4',
    RELAY_CONNECT_ATTEMPT_DELAY_MS: '250',
  } });
  producer = createProducer('deliver-remote', redis, prefix);
});

afterAll(async () => {
  await relay?.stop();
  await producer?.close();
  await mx?.stop();
  await dns?.stop();
  await redis?.quit();
  await db?.drop();
});

async function deliver(rcpt: string) {
  const id = await commitMessage(db, [rcpt]);
  await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
  await producer.add({ messageId: id, domain: rcpt.split('@')[1]! });
  const r = await waitFor(async () => ((await recipientsOf(db, id))[rcpt]?.status === 'delivered' ? recipientsOf(db, id) : undefined), { timeoutMs: 10_000, what: `${rcpt} delivered` });
  const tx = mx.transactions.filter((t) => t.data.toString().includes(id));
  expect(tx).toHaveLength(1);
  return { rcpt: r[rcpt]!, tx: tx[0]! };
}

describe('outbound-relay source address and address order', () => {
  it('prefers the configured family (ipv4) of a dual-stack MX and leaves from RELAY_SOURCE_ADDRESS', async () => {
    const { tx } = await deliver('bob@dual.test');
    expect(tx.ip).toBe(MX4);
    expect(tx.remoteAddress).toBe(SOURCE4);
  });

  it('falls back to IPv6, from RELAY_SOURCE_ADDRESS6, when the IPv4 address refuses', async () => {
    const { tx, rcpt } = await deliver('bob@broken4.test');
    expect(tx.ip).toBe('::1');
    expect(tx.remoteAddress).toBe('::1');
    expect(rcpt.last_mx).toBe('broken4-mx.test');
  });

  it('uses the other family when the MX host has only that one', async () => {
    const { tx } = await deliver('bob@v6.test');
    expect(tx.ip).toBe('::1');
  });
});
