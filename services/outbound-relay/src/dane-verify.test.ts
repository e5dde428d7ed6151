// DANE-EE with RELAY_TLS_VERIFY on: the handshake must not refuse the self-signed certificate
// a validated 3 1 1 TLSA record pins (RFC 7672 §3.1.1: names and expiry do not count); the
// TLSA match decides, before MAIL FROM.
import { createHash, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer } from '@hopmail/queue';
import { queueRedis } from '@hopmail/service-kit';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { baseUrls, createTestDatabase, redisPrefix, startFakeDns, startFakeMx, waitFor, type FakeDns, type FakeMx, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { commitMessage, recipientsOf } from '../test/mail.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

const MX = '127.0.0.46';
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
  const cert = createSelfSignedCertificate({ names: ['not-the-mx-name.example'] });
  const spki = new X509Certificate(cert.cert).publicKey.export({ type: 'spki', format: 'der' });
  mx = await startFakeMx([MX], { tls: { [MX]: cert } });
  const tlsa = `_${mx.port}._tcp.mx.dane.test`;
  dns = await startFakeDns({
    host: '127.0.0.53',
    records: [
      { name: 'dane.test', type: 'MX', data: { preference: 10, exchange: 'mx.dane.test' } },
      { name: 'mx.dane.test', type: 'A', data: MX },
      { name: tlsa, type: 'TLSA', data: { usage: 3, selector: 1, matchingType: 1, data: createHash('sha256').update(spki).digest('hex') } },
    ],
    behaviour: { authenticated: [tlsa] },
  });
  relay = await startRelay({ db, prefix, redis, mx, dns, env: { DNS_TIMEOUT_MS: '500', DNS_TRIES: '1', RELAY_ALLOW_LOOPBACK_MX: 'true', RELAY_SCHEDULER_INTERVAL_MS: '50', RELAY_TLS_VERIFY: 'true', RELAY_MTA_STS: 'false' } });
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

describe('DANE-EE under RELAY_TLS_VERIFY', () => {
  it('a self-signed certificate with another name, pinned by a validated 3 1 1 record, delivers over TLS', async () => {
    const id = await commitMessage(db, ['bob@dane.test']);
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
    await producer.add({ messageId: id, domain: 'dane.test' });
    const r = await waitFor(async () => {
      const x = (await recipientsOf(db, id))['bob@dane.test'];
      return x && x.status !== 'relay' ? x : undefined;
    }, { timeoutMs: 10_000, what: 'bob@dane.test attempted' });
    expect(r.status).toBe('delivered');
    expect(mx.transactions.filter((t) => t.data.toString().includes(id))).toEqual([expect.objectContaining({ ip: MX, secure: true })]);
  });
});
