import { describe, expect, it } from 'vitest';
import { RCODE, TYPE, decodeMessage, encodeMessage, encodeQuery, emptyHeader } from '@hopmail/dns-wire';
import { agedRecords, deserializeEntry, remainingTtl, serializeEntry, type CacheEntry } from './entry.ts';
import { classifyQuery, questionKey } from './query.ts';
import { answerReply, encodeReply, udpLimit } from './reply.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('classifyQuery', () => {
  it.each([
    ['short header', hex('1234 0100 0001'), 'drop'],
    ['a response', hex('1234 8180 0000 0000 0000 0000'), 'drop'],
    ['pointer loop', hex('1234 0100 0001 0000 0000 0000 c00c 0001 0001'), RCODE.FORMERR],
    ['no question', hex('1234 0100 0000 0000 0000 0000'), RCODE.FORMERR],
    ['opcode NOTIFY', hex('1234 2000 0001 0000 0000 0000 01 61 00 0006 0001'), RCODE.NOTIMP],
    ['class CH', hex('1234 0100 0001 0000 0000 0000 01 61 00 0010 0003'), RCODE.REFUSED],
    ['AXFR', hex('1234 0000 0001 0000 0000 0000 01 61 00 00fc 0001'), RCODE.REFUSED],
  ])('%s', (_n, bytes, want) => {
    const c = classifyQuery(bytes);
    if (want === 'drop') expect(c.kind).toBe('drop');
    else {
      expect(c.kind).toBe('reply');
      if (c.kind === 'reply') {
        expect(c.reply.header.id).toBe(0x1234);
        expect(c.reply.header.rcode).toBe(want);
      }
    }
  });
  it('a good query gets a case-insensitive key', () => {
    const c = classifyQuery(encodeQuery({ id: 1, name: 'Mx.Example.ORG.', type: TYPE.MX }));
    expect(c.kind === 'query' && c.key).toBe('1:15:mx.example.org');
    expect(questionKey({ name: 'mx.example.org', type: 15, class: 1 })).toBe('1:15:mx.example.org');
  });
});

describe('replies', () => {
  it('UDP limit is 512 without EDNS, else the client size capped by ours', () => {
    const plain = decodeMessage(encodeQuery({ id: 1, name: 'a.test', type: 1 }));
    const big = decodeMessage(encodeQuery({ id: 1, name: 'a.test', type: 1, udpSize: 65000 }));
    const tiny = decodeMessage(encodeQuery({ id: 1, name: 'a.test', type: 1, udpSize: 100 }));
    expect([udpLimit(plain, 1232), udpLimit(big, 1232), udpLimit(tiny, 1232)]).toEqual([512, 1232, 512]);
  });
  it('truncates answers over the limit to an empty TC answer with the question', () => {
    const q = decodeMessage(encodeQuery({ id: 5, name: 'a.test', type: 1 }));
    const answers = Array.from({ length: 40 }, (_, i) => ({ name: 'a.test', class: 1, ttl: 5, type: 'A' as const, address: `192.0.2.${i}` }));
    const out = encodeReply(answerReply(q, 0, { answers, authorities: [], additionals: [] }, 1232), 512);
    expect(out.truncated).toBe(true);
    const m = decodeMessage(out.bytes);
    expect(m.header).toMatchObject({ id: 5, tc: true, qr: true });
    expect(m.questions).toEqual(q.questions);
    expect(m.answers).toEqual([]);
  });
});

describe('cache entries', () => {
  const entry: CacheEntry = {
    kind: 'positive',
    rcode: 0,
    storedAt: 1_700_000_000_000,
    ttl: 60,
    answers: [{ name: 'a.test', class: 1, ttl: 60, type: 'A', address: '192.0.2.1' }],
    authorities: [],
    additionals: [],
    ad: false,
  };
  it('round-trips through the Redis byte form, the AD bit included', () => {
    expect(deserializeEntry(serializeEntry(entry))).toEqual(entry);
    expect(deserializeEntry(serializeEntry({ ...entry, ad: true }))).toEqual({ ...entry, ad: true });
    expect(deserializeEntry(Buffer.from('garbage'))).toBeUndefined();
    expect(deserializeEntry(Buffer.concat([Buffer.from([9]), serializeEntry(entry).subarray(1)]))).toBeUndefined();
  });
  it('ages TTLs by whole seconds and never below zero; stale gets a fixed TTL', () => {
    expect(remainingTtl(entry, entry.storedAt + 1999)).toBe(59);
    expect(agedRecords(entry.answers, entry, entry.storedAt + 10_500)[0]!.ttl).toBe(50);
    expect(agedRecords(entry.answers, entry, entry.storedAt + 100_000)[0]!.ttl).toBe(0);
    expect(agedRecords(entry.answers, entry, entry.storedAt + 100_000, 30)[0]!.ttl).toBe(30);
  });
  it('negative entries keep their rcode', () => {
    const nx: CacheEntry = { ...entry, kind: 'nxdomain', rcode: RCODE.NXDOMAIN, answers: [], authorities: [{ name: 'test', class: 1, ttl: 5, type: 'SOA', mname: 'a.test', rname: 'b.test', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 }] };
    expect(deserializeEntry(serializeEntry(nx))).toEqual(nx);
    expect(encodeMessage({ header: emptyHeader(), questions: [], answers: [], authorities: [], additionals: [] })).toHaveLength(12);
  });
});
