import { describe, expect, it } from 'vitest';
import { decideSts, mxMatches, parseStsPolicy, parseStsTxt, STS_MAX_BODY_BYTES, type CachedPolicy } from './mta-sts.ts';

describe('_mta-sts TXT (RFC 8461 §3.1)', () => {
  it.each([
    [['v=STSv1; id=20260101T000000'], { kind: 'policy', id: '20260101T000000' }],
    [['v=STSv1;id=abc;'], { kind: 'policy', id: 'abc' }],
    [['v=spf1 -all', 'v=STSv1; id=x1; ext=1'], { kind: 'policy', id: 'x1' }],
    [[], { kind: 'none' }],
    [['v=spf1 -all'], { kind: 'none' }],
    [['v=STSv1; id=a', 'v=STSv1; id=b'], { kind: 'invalid', reason: '2 STSv1 TXT records' }],
    [['v=STSv1; id=has-dash'], { kind: 'invalid', reason: 'bad id "has-dash"' }],
    [['v=STSv1; id=' + 'a'.repeat(33)], { kind: 'invalid', reason: `bad id "${'a'.repeat(33)}"` }],
    [['v=STSv1;'], { kind: 'invalid', reason: 'no id' }],
    [['v=STSv1; garbage'], { kind: 'invalid', reason: 'malformed field "garbage"' }],
  ])('%j → %j', (records, want) => expect(parseStsTxt(records)).toEqual(want));
});

describe('policy file (RFC 8461 §3.2)', () => {
  it('parses CRLF, LF and mixes of both, repeated mx, and ignores unknown keys', () => {
    const body = 'version: STSv1\r\nmode: enforce\nmx: mail.example.org\r\nmx: *.backup.example.org.\nmax_age: 604800\r\nfuture_key: whatever\n';
    expect(parseStsPolicy(body)).toEqual({ ok: true, policy: { mode: 'enforce', mx: ['mail.example.org', '*.backup.example.org'], maxAge: 604800 } });
  });

  it('mode none needs no mx', () => {
    expect(parseStsPolicy('version: STSv1\nmode: none\nmax_age: 86400\n')).toEqual({ ok: true, policy: { mode: 'none', mx: [], maxAge: 86400 } });
  });

  it.each([
    ['version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n', 'version is not STSv1'],
    ['version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n', 'bad mode "strict"'],
    ['version: STSv1\nmode: enforce\nmx: a.example\n', 'max_age missing or not a number'],
    ['version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n', 'max_age missing or not a number'],
    ['version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n', 'max_age 31557601 exceeds 31557600 (RFC 8461 §3.2)'],
    ['version: STSv1\nmode: enforce\nmax_age: 86400\n', 'no mx'],
    ['version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 86400\n', 'bad mx pattern "*.*.example"'],
    ['version: STSv1\nthis is not a field\n', 'malformed line "this is not a field"'],
    ['<html>moved</html>', 'malformed line "<html>moved</html>"'],
    ['version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n' + 'x: y\n'.repeat(STS_MAX_BODY_BYTES / 5), `policy larger than ${STS_MAX_BODY_BYTES} bytes`],
  ])('refuses %#: %s', (body, reason) => expect(parseStsPolicy(body)).toEqual({ ok: false, reason }));
});

describe('MX matching (RFC 8461 §4.1)', () => {
  it.each([
    ['mail.example.org', true],
    ['MAIL.example.org.', true],
    ['a.backup.example.org', true],
    ['backup.example.org', false],
    ['a.b.backup.example.org', false],
    ['evil-mail.example.org', false],
  ])('%s → %s', (host, want) => expect(mxMatches(['mail.example.org', '*.backup.example.org'], host)).toBe(want));
});

describe('which policy holds (RFC 8461 §5.1)', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const cached: CachedPolicy = { id: 'one', mode: 'enforce', mx: ['mx.example'], maxAge: 86400, expiresAt: new Date('2026-06-02T00:00:00Z') };
  const expired = { ...cached, expiresAt: new Date('2026-05-31T00:00:00Z') };
  it.each([
    ['same id: the cache', { kind: 'policy', id: 'one' } as const, cached, { kind: 'use', policy: cached }],
    ['new id: fetch, the cache as fallback', { kind: 'policy', id: 'two' } as const, cached, { kind: 'fetch', id: 'two', fallback: cached }],
    ['nothing cached: fetch', { kind: 'policy', id: 'one' } as const, null, { kind: 'fetch', id: 'one', fallback: null }],
    ['expired: fetch without fallback', { kind: 'policy', id: 'one' } as const, expired, { kind: 'fetch', id: 'one', fallback: null }],
    ['TXT gone: the cache holds until it expires', { kind: 'none' } as const, cached, { kind: 'use', policy: cached }],
    ['DNS failure: the cache', 'dns-failure' as const, cached, { kind: 'use', policy: cached }],
    ['DNS failure, nothing cached: none', 'dns-failure' as const, null, { kind: 'none' }],
    ['TXT gone, expired: none', { kind: 'none' } as const, expired, { kind: 'none' }],
  ])('%s', (_, txt, c, want) => expect(decideSts(txt, c, now)).toEqual(want));
});
