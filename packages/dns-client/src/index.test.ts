// The DNS client against the test DNS server on 127.0.0.x: answers, the three failure kinds,
// and the node-style resolve() that libraries take.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeDns, type FakeDns } from '@hopmail/test-kit';
import { createDnsClient, type DnsClient } from './index.ts';

let dns: FakeDns;
let client: DnsClient;
const long = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(400);
beforeAll(async () => {
  dns = await startFakeDns({
    host: '127.0.0.91',
    records: [
      { name: 'example.test', type: 'MX', data: { preference: 10, exchange: 'mx.example.test' } },
      { name: 'mx.example.test', type: 'A', data: '127.0.0.92' },
      { name: 'mx.example.test', type: 'AAAA', data: '::1' },
      { name: 'example.test', type: 'TXT', data: 'v=spf1 -all' },
      { name: 'sel._domainkey.example.test', type: 'TXT', data: long },
      { name: 'short.example.test', type: 'TXT', data: 'v=DMARC1; p=none', ttl: 1 },
      { name: 'alias.example.test', type: 'CNAME', data: 'short.example.test', ttl: 600 },
      { name: 'big.example.test', type: 'TXT', data: 'x'.repeat(3000), ttl: 120 },
    ],
    zoneSoa: { name: 'example.test', data: { mname: 'ns.example.test', rname: 'hostmaster.example.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 60 } },
    behaviour: { servfail: ['broken.example.test'], drop: ['silent.example.test'], truncateUdp: ['big.example.test'] },
  });
  client = createDnsClient({ servers: [`${dns.host}:${dns.port}`], timeoutMs: 200, tries: 1 });
});
afterAll(async () => {
  await dns.stop();
});

describe('createDnsClient', () => {
  it('MX, addresses (IPv4 first) and TXT joined from its 255-byte strings', async () => {
    expect(await client.mx('example.test')).toMatchObject({ ok: true, value: [{ exchange: 'mx.example.test', priority: 10 }] });
    expect(await client.addresses('mx.example.test')).toEqual({ ok: true, value: ['127.0.0.92', '::1'] });
    expect(await client.txt('example.test')).toEqual({ ok: true, value: ['v=spf1 -all'] });
    expect(await client.txt('sel._domainkey.example.test')).toEqual({ ok: true, value: [long] });
  });

  it('nxdomain and nodata are answers; SERVFAIL and silence are temporary', async () => {
    expect(await client.txt('nothing.example.test')).toMatchObject({ ok: false, kind: 'nxdomain' });
    expect(await client.mx('mx.example.test')).toMatchObject({ ok: false, kind: 'nodata' });
    expect(await client.addresses('nothing.example.test')).toMatchObject({ ok: false, kind: 'nxdomain' });
    expect(await client.txt('broken.example.test')).toMatchObject({ ok: false, kind: 'temporary' });
    expect(await client.txt('silent.example.test')).toMatchObject({ ok: false, kind: 'temporary', code: 'ETIMEOUT' });
  });

  it('resolve(name, rrtype) behaves like node:dns (arrays of strings for TXT, errors with codes)', async () => {
    expect(await client.resolve('example.test', 'TXT')).toEqual([['v=spf1 -all']]);
    await expect(client.resolve('nothing.example.test', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('resolveWithTtl(name, rrtype): the answers resolve() gives, with the smallest TTL of the records (CNAME chain included)', async () => {
    for (const [name, type] of [['example.test', 'TXT'], ['sel._domainkey.example.test', 'TXT'], ['example.test', 'MX'], ['mx.example.test', 'A'], ['mx.example.test', 'AAAA'], ['alias.example.test', 'TXT']] as const) {
      expect((await client.resolveWithTtl!(name, type)).answer).toEqual(await client.resolve(name, type));
    }
    expect(await client.resolveWithTtl!('example.test', 'TXT')).toEqual({ answer: [['v=spf1 -all']], ttl: 300 });
    expect(await client.resolveWithTtl!('short.example.test', 'TXT')).toEqual({ answer: [['v=DMARC1; p=none']], ttl: 1 });
    expect((await client.resolveWithTtl!('alias.example.test', 'TXT')).ttl).toBe(1);
    expect((await client.resolveWithTtl!('alias.example.test', 'CNAME')).ttl).toBe(600);
  });

  it('resolveWithTtl: NXDOMAIN and NODATA carry the SOA negative TTL (RFC 2308); SERVFAIL and silence are resolve()\'s codes', async () => {
    await expect(client.resolveWithTtl!('nothing.example.test', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND', ttl: 60 });
    await expect(client.resolveWithTtl!('mx.example.test', 'MX')).rejects.toMatchObject({ code: 'ENODATA', ttl: 60 });
    // Outside any zone the server knows: no SOA, so no negative TTL either.
    await expect(client.resolveWithTtl!('nothing.elsewhere.test', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND', ttl: null });
    await expect(client.resolveWithTtl!('broken.example.test', 'TXT')).rejects.toMatchObject({ code: 'ESERVFAIL' });
    await expect(client.resolveWithTtl!('silent.example.test', 'TXT')).rejects.toMatchObject({ code: 'ETIMEOUT' });
  });

  it('resolveWithTtl: a truncated UDP answer is asked again over TCP', async () => {
    const before = dns.queries.length;
    expect(await client.resolveWithTtl!('big.example.test', 'TXT')).toEqual({ answer: [Array.from({ length: 12 }, (_, i) => 'x'.repeat(i < 11 ? 255 : 3000 - 11 * 255))], ttl: 120 });
    expect(dns.queries.slice(before).map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });
});
