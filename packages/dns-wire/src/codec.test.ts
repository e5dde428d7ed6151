import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { describe, expect, it } from 'vitest';
import { decodeHeader, decodeMessage, encodeMessage, encodeQuery, frameTcp, TcpFrameReader } from './codec.ts';
import { FormatError } from './errors.ts';
import { bytesToIpv6, ipv6ToBytes } from './address.ts';
import { RCODE, TYPE, txtText, type DnsMessage } from './types.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+|\|/g, ''), 'hex');

// Packets written out byte by byte; offsets in comments. "example" starts at 12, "com" at 20.
const QUESTION_EXAMPLE_COM_MX = '07 6578616d706c65 03 636f6d 00 | 000f 0001';

const PACKETS: { name: string; bytes: string; expect: (m: DnsMessage) => void }[] = [
  {
    name: 'query example.com A, RD, no EDNS',
    bytes: 'abcd 0100 0001 0000 0000 0000 | 07 6578616d706c65 03 636f6d 00 | 0001 0001',
    expect: (m) => {
      expect(m.header).toMatchObject({ id: 0xabcd, qr: false, opcode: 0, rd: true, rcode: 0 });
      expect(m.questions).toEqual([{ name: 'example.com', type: TYPE.A, class: 1 }]);
      expect(m.edns).toBeUndefined();
    },
  },
  {
    name: 'MX answer with compression pointers to the question',
    bytes:
      '1234 8180 0001 0002 0000 0000 |' +
      QUESTION_EXAMPLE_COM_MX +
      '| c00c 000f 0001 00000e10 0009 000a 04 6d61696c c00c' +
      '| c00c 000f 0001 00000e10 0008 0014 03 6d7832 c00c',
    expect: (m) => {
      expect(m.header).toMatchObject({ id: 0x1234, qr: true, rd: true, ra: true, rcode: 0 });
      expect(m.answers).toEqual([
        { name: 'example.com', class: 1, ttl: 3600, type: 'MX', preference: 10, exchange: 'mail.example.com' },
        { name: 'example.com', class: 1, ttl: 3600, type: 'MX', preference: 20, exchange: 'mx2.example.com' },
      ]);
    },
  },
  {
    name: 'NXDOMAIN with SOA in authority (RFC 2308 §2.1)',
    // question "nx.example.com" at 12: 02 6e78 (12..14) then "example" at 15, "com" at 23
    bytes:
      '0001 8183 0001 0000 0001 0000 | 02 6e78 07 6578616d706c65 03 636f6d 00 0001 0001' +
      '| c00f 0006 0001 00000384 0027' +
      '   03 6e7331 c00f' + // ns1.example.com (5 bytes + pointer = 6)
      '   0a 686f73746d6173746572 c00f' + // hostmaster.example.com (11 + 2 = 13)
      '   7848a2c1 00001c20 00000e10 00093a80 0000012c',
    expect: (m) => {
      expect(m.header.rcode).toBe(RCODE.NXDOMAIN);
      expect(m.answers).toEqual([]);
      expect(m.authorities).toEqual([
        { name: 'example.com', class: 1, ttl: 900, type: 'SOA', mname: 'ns1.example.com', rname: 'hostmaster.example.com', serial: 2018026177, refresh: 7200, retry: 3600, expire: 604800, minimum: 300 },
      ]);
    },
  },
  {
    name: 'AAAA, A, CNAME, TXT and an EDNS OPT record',
    // "www" at 12, "example" at 16, "com" at 24
    bytes:
      '0002 8180 0001 0004 0000 0001 | 03 777777 07 6578616d706c65 03 636f6d 00 001c 0001' +
      '| c00c 0005 0001 0000003c 0006 03 776562 c010' + // www CNAME web.example.com
      '| c02d 001c 0001 0000003c 0010 20010db8000000000000000000000001' + // web... AAAA 2001:db8::1 (web at 45)
      '| c02d 0001 0001 0000003c 0004 c0000201' +
      '| c010 0010 0001 0000012c 0012 0b 763d73706631202d616c6c 05 68656c6c6f' +
      '| 00 0029 04d0 00008000 0000',
    expect: (m) => {
      expect(m.answers).toEqual([
        { name: 'www.example.com', class: 1, ttl: 60, type: 'CNAME', target: 'web.example.com' },
        { name: 'web.example.com', class: 1, ttl: 60, type: 'AAAA', address: '2001:db8::1' },
        { name: 'web.example.com', class: 1, ttl: 60, type: 'A', address: '192.0.2.1' },
        { name: 'example.com', class: 1, ttl: 300, type: 'TXT', strings: [Buffer.from('v=spf1 -all'), Buffer.from('hello')] },
      ]);
      expect(txtText(m.answers[3] as never)).toBe('v=spf1 -allhello');
      expect(m.additionals).toEqual([]);
      expect(m.edns).toEqual({ udpSize: 1232, extendedRcode: 0, version: 0, dnssecOk: true, flags: 0, options: Buffer.alloc(0) });
    },
  },
  {
    name: 'Null MX (RFC 7505), NS, PTR, an unknown type kept raw, TTL with the top bit set',
    bytes:
      '0003 8580 0001 0004 0000 0000 |' +
      QUESTION_EXAMPLE_COM_MX +
      '| c00c 000f 0001 00000e10 0003 0000 00' +
      '| c00c 0002 0001 80000000 0006 03 6e7331 c00c' +
      '| c00c 000c 0001 00000e10 0002 c00c' +
      '| c00c 0101 0001 00000e10 0003 000569',
    expect: (m) => {
      expect(m.header.aa).toBe(true);
      expect(m.answers).toEqual([
        { name: 'example.com', class: 1, ttl: 3600, type: 'MX', preference: 0, exchange: '.' },
        { name: 'example.com', class: 1, ttl: 0, type: 'NS', host: 'ns1.example.com' },
        { name: 'example.com', class: 1, ttl: 3600, type: 'PTR', target: 'example.com' },
        { name: 'example.com', class: 1, ttl: 3600, type: 'UNKNOWN', typeCode: 257, rdata: hex('000569') },
      ]);
    },
  },
  {
    name: 'labels with a dot, a backslash and a space are escaped',
    bytes: '0004 0100 0001 0000 0000 0000 | 03 612e62 03 635c64 02 6520 00 0010 0001',
    expect: (m) => {
      expect(m.questions[0]!.name).toBe('a\\.b.c\\\\d.e\\032');
    },
  },
];

describe('decodeMessage: real packet bytes', () => {
  for (const p of PACKETS) {
    it(p.name, () => {
      const msg = decodeMessage(hex(p.bytes));
      p.expect(msg);
      // round trip: encode and decode again gives the same message
      const again = decodeMessage(encodeMessage(msg));
      expect(again).toEqual(msg);
    });
  }
});

const MALFORMED: { name: string; bytes: string; code: string }[] = [
  { name: 'empty', bytes: '', code: 'dns.short-header' },
  { name: 'header cut at 11 bytes', bytes: '1234 0100 0001 0000 0000 00', code: 'dns.short-header' },
  { name: 'qdcount says 1, no question', bytes: '1234 0100 0001 0000 0000 0000', code: 'dns.truncated' },
  { name: 'question without type/class', bytes: '1234 0100 0001 0000 0000 0000 03 616263 00', code: 'dns.truncated' },
  { name: 'label runs past the end', bytes: '1234 0100 0001 0000 0000 0000 3f 6162', code: 'dns.truncated' },
  { name: 'pointer to itself', bytes: '1234 0100 0001 0000 0000 0000 c00c 0001 0001', code: 'dns.pointer-loop' },
  { name: 'two pointers pointing at each other', bytes: '1234 0100 0001 0000 0000 0000 01 61 c00e c00c 0001 0001', code: 'dns.pointer-loop' },
  { name: 'forward pointer', bytes: '1234 0100 0001 0000 0000 0000 c020 0001 0001', code: 'dns.pointer-loop' },
  { name: 'pointer cut short', bytes: '1234 0100 0001 0000 0000 0000 c0', code: 'dns.truncated' },
  { name: 'extended label type 0x40', bytes: '1234 0100 0001 0000 0000 0000 41 00 0001 0001', code: 'dns.bad-label-type' },
  { name: 'name longer than 255', bytes: '1234 0100 0001 0000 0000 0000 ' + '3f'.concat('61'.repeat(63)).repeat(4) + '00 0001 0001', code: 'dns.name-too-long' },
  { name: 'A rdata of 3 bytes', bytes: '1234 8180 0000 0001 0000 0000 00 0001 0001 00000000 0003 010203', code: 'dns.bad-rdata' },
  { name: 'rdlength past the end', bytes: '1234 8180 0000 0001 0000 0000 00 0001 0001 00000000 0004 0102', code: 'dns.truncated' },
  { name: 'MX name spilling out of its rdata', bytes: '1234 8180 0000 0001 0000 0000 00 000f 0001 00000000 0003 0001 03 616263 00', code: 'dns.bad-rdata' },
  { name: 'two OPT records', bytes: '1234 0100 0000 0000 0000 0002 00 0029 1000 00000000 0000 00 0029 1000 00000000 0000', code: 'dns.bad-rdata' },
];

describe('decodeMessage: malformed input throws FormatError', () => {
  for (const m of MALFORMED) {
    it(m.name, () => {
      let err: unknown;
      try {
        decodeMessage(hex(m.bytes));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as FormatError).code).toBe(m.code);
    });
  }

  it('never throws anything but FormatError on random bytes', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    for (let i = 0; i < 5000; i++) {
      const len = rnd() % 120;
      const b = Buffer.alloc(len);
      for (let j = 0; j < len; j++) b[j] = rnd();
      try {
        decodeMessage(b);
      } catch (e) {
        expect(e).toBeInstanceOf(FormatError);
      }
    }
  });
});

describe('encodeMessage', () => {
  it('compresses repeated names (case-insensitively) into pointers', () => {
    const msg: DnsMessage = {
      header: { id: 7, qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, ad: false, cd: false, rcode: 0 },
      questions: [{ name: 'Example.COM', type: TYPE.MX, class: 1 }],
      answers: [
        { name: 'example.com', class: 1, ttl: 3600, type: 'MX', preference: 10, exchange: 'mail.example.com' },
        { name: 'example.com', class: 1, ttl: 3600, type: 'MX', preference: 20, exchange: 'mx2.example.com' },
      ],
      authorities: [],
      additionals: [],
    };
    const bytes = encodeMessage(msg);
    expect(bytes.toString('hex')).toBe(
      hex('0007 8180 0001 0002 0000 0000 | 07 4578616d706c65 03 434f4d 00 000f 0001' + '| c00c 000f 0001 00000e10 0009 000a 04 6d61696c c00c' + '| c00c 000f 0001 00000e10 0008 0014 03 6d7832 c00c').toString('hex'),
    );
  });

  it('encodeQuery builds a query with an OPT record', () => {
    const q = encodeQuery({ id: 0xbeef, name: 'example.org.', type: TYPE.AAAA, udpSize: 1232 });
    expect(q.toString('hex')).toBe(hex('beef 0100 0001 0000 0000 0001 | 07 6578616d706c65 03 6f7267 00 001c 0001 | 00 0029 04d0 00000000 0000').toString('hex'));
    expect(decodeHeader(q)).toMatchObject({ id: 0xbeef, rd: true, qdcount: 1, arcount: 1 });
  });

  it('rejects names it cannot represent', () => {
    const base = { header: decodeHeader(hex('0000 0000 0000 0000 0000 0000')), answers: [], authorities: [], additionals: [] };
    expect(() => encodeMessage({ ...base, questions: [{ name: 'a..b', type: 1, class: 1 }] })).toThrow(FormatError);
    expect(() => encodeMessage({ ...base, questions: [{ name: 'x'.repeat(64) + '.com', type: 1, class: 1 }] })).toThrow(FormatError);
  });
});

describe('addresses', () => {
  it.each([
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
  ])('%s → %s', (input, out) => {
    expect(bytesToIpv6(ipv6ToBytes(input), 0)).toBe(out);
  });
  it('rejects bad IPv6', () => {
    for (const bad of ['1::2::3', '12345::', '1:2:3:4:5:6:7', 'g::1', '1:2:3:4:5:6:7:8:9']) expect(() => ipv6ToBytes(bad)).toThrow(FormatError);
  });
});

describe('TCP framing', () => {
  it('reassembles messages split across chunks and several in one chunk', () => {
    const a = encodeQuery({ id: 1, name: 'a.example', type: 1 });
    const b = encodeQuery({ id: 2, name: 'b.example', type: 1 });
    const stream = Buffer.concat([frameTcp(a), frameTcp(b)]);
    const r = new TcpFrameReader();
    const out = [...r.push(stream.subarray(0, 1)), ...r.push(stream.subarray(1, 20)), ...r.push(stream.subarray(20))];
    expect(out.map((m) => decodeHeader(m).id)).toEqual([1, 2]);
    expect(r.buffered).toBe(0);
  });
});

describe('a real client', () => {
  it('decodes the query node:dns (c-ares) sends', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));
    const resolver = new Resolver({ timeout: 200, tries: 1 });
    resolver.setServers([`127.0.0.1:${sock.address().port}`]);
    const pending = resolver.resolveMx('Mail.Example.NET').catch(() => undefined);
    const msg = decodeMessage(await got);
    expect(msg.header).toMatchObject({ qr: false, opcode: 0, rd: true });
    expect(msg.questions.map((q) => ({ ...q, name: q.name.toLowerCase() }))).toEqual([{ name: 'mail.example.net', type: TYPE.MX, class: 1 }]);
    resolver.cancel();
    await pending;
    sock.close();
  });
});
