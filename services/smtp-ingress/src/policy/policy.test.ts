import { describe, expect, it } from 'vitest';
import type { Resolution } from '@hopmail/mail';
import { connectPolicy } from './connect-policy.ts';
import { dataPolicy } from './data-policy.ts';
import { mailPolicy } from './mail-policy.ts';
import { rcptPolicy, rcptSyntaxPolicy } from './rcpt-policy.ts';
import { srsRcptPolicy } from './srs-policy.ts';
import type { Verdict } from './verdict.ts';

const code = (v: Verdict) => (v.kind === 'accept' ? 'accept' : `${v.code} ${v.enhanced} ${v.reason}`);

describe('connectPolicy', () => {
  const base = { remoteIp: '192.0.2.1', openFromIp: 0, maxPerIp: 2, closing: false, hostname: 'mx' };
  it.each([
    [{}, 'accept'],
    [{ openFromIp: 1 }, 'accept'],
    [{ openFromIp: 2 }, '421 4.7.0 too-many-connections-from-ip'],
    [{ closing: true }, '421 4.3.2 shutting-down'],
  ])('%j', (over, expected) => {
    expect(code(connectPolicy({ ...base, ...over }))).toBe(expected);
  });
});

describe('mailPolicy', () => {
  it.each([
    ['', false, 'accept'],
    ['a@x.org', false, 'accept'],
    ['a..b@x.org', false, '501 5.1.7 sender-syntax'],
    ['jörg@x.org', false, '553 5.6.7 sender-needs-smtputf8'],
    ['jörg@x.org', true, 'accept'],
  ])('%j smtputf8=%s', (address, smtputf8, expected) => {
    expect(code(mailPolicy({ address, smtputf8 }))).toBe(expected);
  });
});

describe('rcptPolicy', () => {
  it.each([
    [{ kind: 'ok', mailboxes: [{ id: 1, address: 'a@x.org' }], remote: [] }, false, 'accept'],
    [{ kind: 'not-local' }, false, '554 5.7.1 relay-denied'],
    [{ kind: 'not-local' }, true, 'accept'],
    [{ kind: 'unknown' }, false, '550 5.1.1 unknown-user'],
    [{ kind: 'loop' }, false, '550 5.4.6 alias-loop'],
    [{ kind: 'too-many' }, false, '550 5.5.3 alias-too-many'],
    [{ kind: 'invalid' }, false, '501 5.1.3 recipient-syntax'],
  ] as [Resolution, boolean, string][])('%j authenticated=%s', (resolution, authenticated, expected) => {
    expect(code(rcptPolicy({ address: 'a@x.org', resolution, authenticated }))).toBe(expected);
  });
  it('needs SMTPUTF8 for non-ASCII recipients', () => {
    expect(code(rcptSyntaxPolicy({ address: 'jörg@x.org', smtputf8: false })!)).toBe('553 5.6.7 recipient-needs-smtputf8');
    expect(rcptSyntaxPolicy({ address: 'jörg@x.org', smtputf8: true })).toBeNull();
  });
});

describe('dataPolicy', () => {
  const scan = { bareLineEnding: -1, receivedCount: 0, messageId: null, eightBit: false, hiddenTerminator: -1 };
  const base = { sizeExceeded: false, maxSize: 100, scan, maxReceived: 50 };
  it.each([
    [{}, 'accept'],
    [{ sizeExceeded: true, scan: null }, '552 5.3.4 too-big'],
    [{ scan: { ...scan, bareLineEnding: 4 } }, '550 5.6.0 bare-line-ending'],
    [{ scan: { ...scan, hiddenTerminator: 9 } }, '554 5.6.0 hidden-terminator'],
    [{ scan: { ...scan, receivedCount: 50 } }, 'accept'],
    [{ scan: { ...scan, receivedCount: 51 } }, '554 5.4.6 mail-loop'],
  ])('%j', (over, expected) => {
    expect(code(dataPolicy({ ...base, ...over }))).toBe(expected);
  });
});

describe('srsRcptPolicy', () => {
  it('rewrites valid SRS addresses of ours, refuses forged ones 550 5.7.1 and over-long ones 501 5.1.3, ignores others', () => {
    const address = 'SRS0=abcd=AA=bank.example=ceo@example.org';
    expect(srsRcptPolicy({ address, ours: true, reversed: { kind: 'ok', address: 'ceo@bank.example' } })).toEqual({ kind: 'rewrite', address: 'ceo@bank.example' });
    expect(srsRcptPolicy({ address, ours: false, reversed: { kind: 'invalid', reason: 'bad-hash' } })).toEqual({ kind: 'not-srs' });
    for (const reason of ['bad-hash', 'bad-timestamp', 'expired', 'malformed'] as const) {
      expect(srsRcptPolicy({ address, ours: true, reversed: { kind: 'invalid', reason } })).toMatchObject({ kind: 'refuse', verdict: { code: 550, enhanced: '5.7.1', reason: `srs-${reason}` } });
    }
    expect(srsRcptPolicy({ address, ours: true, reversed: { kind: 'invalid', reason: 'too-long' } })).toMatchObject({ kind: 'refuse', verdict: { code: 501, enhanced: '5.1.3' } });
  });
});
