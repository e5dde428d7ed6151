import { Resolver } from 'node:dns/promises';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RCODE, TYPE, TcpFrameReader, decodeMessage, encodeQuery, frameTcp, type DnsMessage } from '@hopmail/dns-wire';
import { startFakeDns, type FakeDns } from './fake-dns.ts';

const SOA = { mname: 'ns1.example.test', rname: 'hostmaster.example.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 };

async function udpQuery(dns: FakeDns, name: string, type: number, udpSize?: number): Promise<DnsMessage> {
  const sock = createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
    sock.send(encodeQuery({ id: 4242, name, type, udpSize }), dns.port, dns.host);
    return decodeMessage(await reply);
  } finally {
    sock.close();
  }
}

async function tcpQuery(dns: FakeDns, name: string, type: number): Promise<DnsMessage> {
  const sock = connect(dns.port, dns.host);
  const frames = new TcpFrameReader();
  try {
    return await new Promise<DnsMessage>((resolve, reject) => {
      sock.on('error', reject);
      sock.on('data', (c) => {
        const [m] = frames.push(c);
        if (m) resolve(decodeMessage(m));
      });
      sock.write(frameTcp(encodeQuery({ id: 7, name, type })));
    });
  } finally {
    sock.destroy();
  }
}

describe('fake-dns', () => {
  let dns: FakeDns;
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  beforeAll(async () => {
    dns = await startFakeDns({
      host: '127.0.0.3',
      records: [
        { name: 'example.test', type: 'SOA', ttl: 600, data: SOA },
        { name: 'example.test', type: 'MX', data: { preference: 20, exchange: 'mx2.example.test' } },
        { name: 'Example.Test.', type: 'MX', data: { preference: 10, exchange: 'mx1.example.test' } },
        { name: 'mx1.example.test', type: 'A', ttl: 30, data: '127.0.0.10' },
        { name: 'mx1.example.test', type: 'AAAA', data: '::1' },
        { name: 'alias.example.test', type: 'CNAME', data: 'mx1.example.test' },
        { name: 'nullmx.example.test', type: 'MX', data: { preference: 0, exchange: '.' } },
        { name: 'deep.sub.example.test', type: 'TXT', data: 'x'.repeat(300) },
        ...Array.from({ length: 60 }, (_, i) => ({ name: 'big.example.test', type: 'A' as const, data: `127.0.1.${i}` })),
      ],
      behaviour: { servfail: ['broken.example.test'], truncateUdp: ['MX1.example.test'] },
    });
    resolver.setServers([`${dns.host}:${dns.port}`]);
  });
  afterAll(async () => {
    await dns.stop();
  });

  it('answers MX to node:dns, case-insensitively, and logs the query', async () => {
    const mx = await resolver.resolveMx('EXAMPLE.test');
    expect(mx.map((r) => ({ priority: r.priority, exchange: r.exchange })).sort((a, b) => a.priority - b.priority)).toEqual([
      { priority: 10, exchange: 'mx1.example.test' },
      { priority: 20, exchange: 'mx2.example.test' },
    ]);
    expect(dns.queries).toContainEqual({ name: 'example.test', type: 'MX', transport: 'udp' });
  });

  it('truncateUdp: TC over UDP with no records, the full answer over TCP', async () => {
    const udp = await udpQuery(dns, 'mx1.example.test', TYPE.A);
    expect(udp.header.tc).toBe(true);
    expect(udp.answers).toEqual([]);
    const tcp = await tcpQuery(dns, 'mx1.example.test', TYPE.A);
    expect(tcp.header.tc).toBe(false);
    expect(tcp.answers).toMatchObject([{ type: 'A', address: '127.0.0.10', ttl: 30 }]);
    // node:dns follows TC to TCP by itself
    expect(await resolver.resolve6('mx1.example.test')).toEqual(['::1']);
    expect(dns.queries.filter((q) => q.name === 'mx1.example.test' && q.type === 'AAAA').map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });

  it('NODATA with the zone SOA, TTL = min(ttl, minimum)', async () => {
    const m = await udpQuery(dns, 'deep.sub.example.test', TYPE.MX);
    expect(m.header.rcode).toBe(RCODE.NOERROR);
    expect(m.answers).toEqual([]);
    expect(m.authorities).toMatchObject([{ type: 'SOA', name: 'example.test', ttl: 60, minimum: 60 }]);
    // an empty non-terminal is NODATA too
    expect((await udpQuery(dns, 'sub.example.test', TYPE.A)).header.rcode).toBe(RCODE.NOERROR);
  });

  it('NXDOMAIN with the parent SOA; none outside any zone', async () => {
    const m = await udpQuery(dns, 'nope.example.test', TYPE.A);
    expect(m.header.rcode).toBe(RCODE.NXDOMAIN);
    expect(m.authorities).toMatchObject([{ type: 'SOA', name: 'example.test' }]);
    const out = await udpQuery(dns, 'elsewhere.invalid', TYPE.A);
    expect(out.header.rcode).toBe(RCODE.NXDOMAIN);
    expect(out.authorities).toEqual([]);
    await expect(resolver.resolve4('nope.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });

  it('Null MX (RFC 7505) is served as preference 0, exchange "."', async () => {
    expect(await resolver.resolveMx('nullmx.example.test')).toMatchObject([{ priority: 0, exchange: '' }]);
  });

  it('CNAME is followed within the records', async () => {
    const m = await udpQuery(dns, 'alias.example.test', TYPE.A);
    expect(m.answers.map((r) => r.type)).toEqual(['CNAME', 'A']);
  });

  it('SERVFAIL behaviour', async () => {
    expect((await udpQuery(dns, 'broken.example.test', TYPE.MX)).header.rcode).toBe(RCODE.SERVFAIL);
  });

  it('large answers are truncated over UDP at 512 bytes, or at the EDNS size', async () => {
    const plain = await udpQuery(dns, 'big.example.test', TYPE.A);
    expect(plain.header.tc).toBe(true);
    const edns = await udpQuery(dns, 'big.example.test', TYPE.A, 4096);
    expect(edns.header.tc).toBe(false);
    expect(edns.answers).toHaveLength(60);
    expect(await resolver.resolve4('big.example.test')).toHaveLength(60);
  });

  it('long TXT split into 255-byte strings', async () => {
    expect((await resolver.resolveTxt('deep.sub.example.test'))[0]!.join('')).toBe('x'.repeat(300));
  });

  it('slow and drop behaviours; setRecords replaces the zone', async () => {
    dns.setBehaviour({ slow: { 'mx1.example.test': 150 }, drop: ['example.test'] });
    const t0 = Date.now();
    await udpQuery(dns, 'mx1.example.test', TYPE.A);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    await expect(resolver.resolveMx('example.test')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    dns.setBehaviour({});
    dns.setRecords([{ name: 'new.test', type: 'A', data: '127.0.0.9' }]);
    expect(await resolver.resolve4('new.test')).toEqual(['127.0.0.9']);
    expect((await udpQuery(dns, 'mx1.example.test', TYPE.A)).header.rcode).toBe(RCODE.NXDOMAIN);
  });

  it('malformed query → FORMERR, garbage → silence, and it keeps answering', async () => {
    const sock = createSocket('udp4');
    const reply = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
    sock.send(Buffer.from('1234010000010000000000000c', 'hex'), dns.port, dns.host);
    const m = await reply;
    expect(m.readUInt16BE(0)).toBe(0x1234);
    expect(m.readUInt16BE(2) & 0xf).toBe(RCODE.FORMERR);
    sock.send(Buffer.from('ff'), dns.port, dns.host);
    sock.close();
    expect(await resolver.resolve4('new.test')).toEqual(['127.0.0.9']);
  });
});
