import { describe, expect, it } from 'vitest';
import { authResultsFields, authservIdOf, removeOwnAuthResults } from './auth-results.ts';

describe('authservIdOf (RFC 8601 §2.2)', () => {
  it.each([
    ['mx.test; spf=pass', 'mx.test'],
    ['  MX.Test ; none', 'mx.test'],
    ['(comment) mx.test 1; dkim=pass', 'mx.test'],
    ['"mx.test"; none', 'mx.test'],
    ['mx.test', 'mx.test'],
    ['', ''],
  ])('%j → %j', (value, id) => expect(authservIdOf(value)).toBe(id));
});

describe('removeOwnAuthResults', () => {
  const body = 'Subject: x\r\n\r\nAuthentication-Results: mx.test; in the body stays\r\n';
  it('removes folded fields claiming our id, keeps others and the body; the same buffer when none', () => {
    const m = Buffer.from(`Authentication-Results: mx.test;\r\n\tdkim=pass\r\nauthentication-results : MX.TEST; spf=pass\r\nAuthentication-Results: other.test; spf=fail\r\n${body}`);
    const out = removeOwnAuthResults(m, 'mx.test');
    expect(out.removed).toBe(2);
    expect(out.message.toString()).toBe(`Authentication-Results: other.test; spf=fail\r\n${body}`);
    const clean = Buffer.from(body);
    expect(removeOwnAuthResults(clean, 'mx.test').message).toBe(clean);
  });

  it('a header section without an empty line (no body) works too', () => {
    expect(removeOwnAuthResults(Buffer.from('Authentication-Results: mx.test; x\r\nFrom: a\r\n'), 'mx.test').message.toString()).toBe('From: a\r\n');
  });
});

it('authResultsFields puts X-Spam-Flag under it when quarantined', () => {
  expect(authResultsFields('mx.test; none', true).toString()).toBe('Authentication-Results: mx.test; none\r\nX-Spam-Flag: YES\r\n');
  expect(authResultsFields('mx.test; none', false).toString()).toBe('Authentication-Results: mx.test; none\r\n');
});
