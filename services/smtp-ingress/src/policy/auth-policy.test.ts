import { describe, expect, it } from 'vitest';
import { authzidPolicy, throttlePolicy } from './auth-policy.ts';
import { fromHeaderPolicy, senderPolicy } from './sender-policy.ts';
import { mailPolicy } from './mail-policy.ts';
import type { Verdict } from './verdict.ts';

const code = (v: Verdict) => (v.kind === 'accept' ? 'accept' : `${v.code} ${v.enhanced} ${v.reason}`);

describe('authzidPolicy (RFC 4616 authorization identity)', () => {
  it.each([
    ['', 'alice@example.org', 'accept'],
    ['alice@example.org', 'alice@example.org', 'accept'],
    ['Alice@Example.org', 'alice@example.org', 'accept'],
    ['bob@example.org', 'alice@example.org', '535 5.7.8 authzid-mismatch'],
  ])('authzid %j login %j', (authzid, username, expected) => {
    expect(code(authzidPolicy({ authzid, username }))).toBe(expected);
  });
});

describe('throttlePolicy', () => {
  const base = { ipFailures: 0, accountFailures: 0, maxPerIp: 10, maxPerAccount: 5, baseDelayMs: 100, maxDelayMs: 1000 };
  it.each([
    [{}, { locked: false, delayMs: 0 }],
    [{ accountFailures: 1 }, { locked: false, delayMs: 100 }],
    [{ ipFailures: 3 }, { locked: false, delayMs: 400 }],
    [{ ipFailures: 2, accountFailures: 4 }, { locked: false, delayMs: 800 }],
    [{ accountFailures: 5 }, { locked: true, delayMs: 1000 }],
    [{ ipFailures: 10 }, { locked: true, delayMs: 1000 }],
    [{ ipFailures: 1e6, maxPerIp: 1e7 }, { locked: false, delayMs: 1000 }],
  ])('%j', (over, expected) => {
    expect(throttlePolicy({ ...base, ...over })).toEqual(expected);
  });
});

describe('senderPolicy / fromHeaderPolicy', () => {
  it.each([
    ['', false, 'envelope', 'accept'],
    ['', false, 'header', '553 5.7.1 from-not-owned'],
    ['a@x.org', true, 'envelope', 'accept'],
    ['b@x.org', false, 'envelope', '553 5.7.1 sender-not-owned'],
    ['b@x.org', false, 'header', '553 5.7.1 from-not-owned'],
  ] as const)('%j owned=%s %s', (address, owned, stage, expected) => {
    expect(code(senderPolicy({ address, owned, stage, user: 'a@x.org' }))).toBe(expected);
  });
  it('needs a From: address', () => {
    expect(code(fromHeaderPolicy({ addresses: null }))).toBe('550 5.6.0 from-missing');
    expect(code(fromHeaderPolicy({ addresses: [] }))).toBe('550 5.6.0 from-missing');
    expect(code(fromHeaderPolicy({ addresses: ['a@x.org'] }))).toBe('accept');
    expect(code(fromHeaderPolicy({ addresses: Array.from({ length: 21 }, (_, i) => `a${i}@x.org`) }))).toBe('550 5.6.0 from-too-many');
  });
});

describe('mailPolicy on submission', () => {
  it('MAIL before AUTH is 530 5.7.0 where AUTH is required', () => {
    expect(code(mailPolicy({ address: 'a@x.org', smtputf8: false, requireAuth: true, authenticated: false }))).toBe('530 5.7.0 auth-required');
    expect(code(mailPolicy({ address: 'a@x.org', smtputf8: false, requireAuth: true, authenticated: true }))).toBe('accept');
    expect(code(mailPolicy({ address: 'a@x.org', smtputf8: false, requireAuth: false, authenticated: false }))).toBe('accept');
  });
});
