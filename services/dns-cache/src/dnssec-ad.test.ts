// The AD bit (DNSSEC-validated data) for DANE: passed on only from upstreams marked as
// validating (DNS_VALIDATING_UPSTREAMS), kept with the cached answer, never invented for an
// answer cached without it, and given only to clients that ask (AD or DO, RFC 6840 §5.7).
import { TYPE, decodeMessage, encodeQuery, type DnsMessage } from '@hopmail/dns-wire';
import { baseUrls, redisPrefix, startFakeDns, type FakeDns } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCache, udpExchange, type TestCache } from '../test/support.ts';

let fake: FakeDns;
const caches: TestCache[] = [];

beforeAll(async () => {
  fake = await startFakeDns({
    host: '127.0.0.81',
    records: [
      { name: 'secure.ad.test', type: 'A', data: '192.0.2.1' },
      { name: 'insecure.ad.test', type: 'A', data: '192.0.2.2' },
      { name: 'shared.ad.test', type: 'A', data: '192.0.2.3' },
    ],
    behaviour: { authenticated: ['secure.ad.test', 'shared.ad.test'] },
  });
});
afterAll(async () => {
  for (const c of caches) await c.stop();
  await fake?.stop();
});

async function cache(o: { validating: boolean; prefix?: string }): Promise<TestCache> {
  const c = await startTestCache({ upstreams: [fake], redisUrl: baseUrls().redisUrl, prefix: o.prefix ?? redisPrefix(), env: o.validating ? { DNS_VALIDATING_UPSTREAMS: `${fake.host}:${fake.port}` } : {} });
  caches.push(c);
  return c;
}

async function ask(c: TestCache, name: string, flags: { ad?: boolean; dnssecOk?: boolean } = { ad: true }): Promise<DnsMessage> {
  const reply = await udpExchange(c.app.port, encodeQuery({ id: 99, name, type: TYPE.A, ad: flags.ad ?? false, ...(flags.dnssecOk ? { udpSize: 1232, dnssecOk: true } : {}) }));
  return decodeMessage(reply!);
}

describe('AD bit', () => {
  it('from a validating upstream: set for secure data, fresh and cached, to clients that ask', async () => {
    const c = await cache({ validating: true });
    expect((await ask(c, 'secure.ad.test')).header.ad).toBe(true);
    expect((await ask(c, 'secure.ad.test')).header.ad).toBe(true); // from the cache
    expect((await ask(c, 'secure.ad.test', { dnssecOk: true })).header.ad).toBe(true);
    expect((await ask(c, 'secure.ad.test', {})).header.ad).toBe(false); // did not ask
    expect((await ask(c, 'insecure.ad.test')).header.ad).toBe(false);
    expect(fake.queries.filter((q) => q.name === 'secure.ad.test')).toHaveLength(1);
  });

  it('from an upstream not marked validating: cleared', async () => {
    const c = await cache({ validating: false });
    expect((await ask(c, 'secure.ad.test')).header.ad).toBe(false);
  });

  it('an answer cached without AD (shared through Redis) never gains it', async () => {
    const prefix = redisPrefix();
    const plain = await cache({ validating: false, prefix });
    expect((await ask(plain, 'shared.ad.test')).header.ad).toBe(false);
    const validating = await cache({ validating: true, prefix });
    const r = await ask(validating, 'shared.ad.test');
    expect(r.answers).toHaveLength(1);
    expect(r.header.ad).toBe(false);
    expect(fake.queries.filter((q) => q.name === 'shared.ad.test')).toHaveLength(1); // the second came from Redis
  });
});
