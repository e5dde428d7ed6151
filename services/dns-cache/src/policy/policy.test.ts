import { describe, expect, it } from 'vitest';
import { RCODE, emptyHeader, type DnsMessage, type DnsRecord } from '@hopmail/dns-wire';
import { decideCaching } from './cache-ttl.ts';
import { parseUpstreams, upstreamsFromResolvConf } from './upstreams.ts';

const a = (ttl: number): DnsRecord => ({ name: 'x.test', class: 1, ttl, type: 'A', address: '192.0.2.1' });
const soa = (ttl: number, minimum: number): DnsRecord => ({ name: 'test', class: 1, ttl, type: 'SOA', mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum });
const reply = (rcode: number, answers: DnsRecord[], authorities: DnsRecord[] = [], tc = false): DnsMessage => ({
  header: { ...emptyHeader(1), qr: true, rcode, tc },
  questions: [{ name: 'x.test', type: 1, class: 1 }],
  answers,
  authorities,
  additionals: [],
});
const P = { minTtl: 10, maxTtl: 3600, negativeMaxTtl: 900 };

describe('decideCaching', () => {
  it.each([
    ['positive: the smallest TTL', reply(RCODE.NOERROR, [a(300), a(100)]), { cache: true, kind: 'positive', ttl: 100 }],
    ['positive: raised to the minimum', reply(RCODE.NOERROR, [a(1)]), { cache: true, ttl: 10 }],
    ['positive: lowered to the maximum', reply(RCODE.NOERROR, [a(999_999)]), { cache: true, ttl: 3600 }],
    ['NXDOMAIN: min(SOA ttl, minimum)', reply(RCODE.NXDOMAIN, [], [soa(600, 120)]), { cache: true, kind: 'nxdomain', ttl: 120 }],
    ['NXDOMAIN: SOA ttl below minimum', reply(RCODE.NXDOMAIN, [], [soa(60, 300)]), { cache: true, kind: 'nxdomain', ttl: 60 }],
    ['NODATA: capped by DNS_NEGATIVE_MAX_TTL', reply(RCODE.NOERROR, [], [soa(86400, 86400)]), { cache: true, kind: 'nodata', ttl: 900 }],
    ['negative without SOA: not cached', reply(RCODE.NXDOMAIN, []), { cache: false }],
    ['SERVFAIL: not cached', reply(RCODE.SERVFAIL, []), { cache: false }],
    ['truncated: not cached', reply(RCODE.NOERROR, [a(60)], [], true), { cache: false }],
  ])('%s', (_name, msg, want) => {
    expect(decideCaching(msg, P)).toMatchObject(want);
  });

  it('every record of a positive entry carries the entry TTL', () => {
    const d = decideCaching(reply(RCODE.NOERROR, [a(300), a(100)]), P);
    expect(d.cache && d.answers.map((r) => r.ttl)).toEqual([100, 100]);
  });
});

describe('upstreams', () => {
  it('parses host:port lists', () => {
    expect(parseUpstreams(' 10.0.0.2:5353, 127.0.0.1 ,[2001:db8::53]:53,::1')).toEqual([
      { host: '10.0.0.2', port: 5353 },
      { host: '127.0.0.1', port: 53 },
      { host: '2001:db8::53', port: 53 },
      { host: '::1', port: 53 },
    ]);
    expect(parseUpstreams('')).toEqual([]);
    expect(() => parseUpstreams('a b')).toThrow();
    expect(() => parseUpstreams('1.2.3.4:99999')).toThrow();
  });
  it('reads resolv.conf nameservers and leaves ourselves out', () => {
    const conf = '# generated\nsearch example\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\n nameserver 10.0.0.1\noptions edns0\n';
    expect(upstreamsFromResolvConf(conf, { host: '127.0.0.53', port: 53 })).toEqual([
      { host: 'fe80::1', port: 53 },
      { host: '10.0.0.1', port: 53 },
    ]);
    expect(upstreamsFromResolvConf(conf, { host: '127.0.0.1', port: 5353 })).toHaveLength(3);
  });
});
