import { describe, expect, test } from 'vitest';
import { checkAddress, checkAliasSource, checkAliasTargets, checkDomainName, CONTROL_CHARS, NO_CONTROL_CHARS_PATTERN } from './names.ts';

describe('checkDomainName', () => {
  test.each([
    ['Example.ORG', 'example.org'],
    ['mail.example.co.uk', 'mail.example.co.uk'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['bücher.example', 'bücher.example'],
    ['localhost', 'localhost'],
  ])('accepts %j as %j', (input, out) => {
    expect(checkDomainName('name', input)).toEqual({ ok: true, value: out });
  });

  test.each([
    ['', /is empty/],
    ['example.org\r\n', /control characters/],
    ['exa\u0000mple.org', /control characters/],
    ['example..org', /not a valid domain/],
    ['example.org.', /not a valid domain/],
    ['-example.org', /not a valid domain/],
    ['exa mple.org', /not a valid domain/],
    ['exa_mple.org', /not a valid domain/],
    ['[127.0.0.1]', /address literal/],
    ['a'.repeat(64) + '.org', /not a valid domain/],
    [('a'.repeat(60) + '.').repeat(5) + 'org', /longer than 253/],
  ])('refuses %j', (input, why) => {
    const r = checkDomainName('name', input);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toMatch(why);
      expect(r.message.startsWith('name ')).toBe(true);
    }
  });
});

describe('checkAddress', () => {
  test('lower-cases the domain and keeps the local part', () => {
    expect(checkAddress('a', 'Alice.Smith@Example.ORG')).toEqual({ ok: true, value: { address: 'Alice.Smith@example.org', local: 'Alice.Smith', domain: 'example.org' } });
  });
  test.each([
    ['', /is empty/],
    ['alice', /not a valid address/],
    ['@example.org', /not a valid address/],
    ['alice@', /not a valid address/],
    ['al ice@example.org', /not a valid address/],
    ['alice\r\n@example.org', /control characters/],
    ['alice@exa\nmple.org', /control characters/],
    ['a..b@example.org', /not a valid address/],
    ['a'.repeat(65) + '@example.org', /local part longer than 64/],
    ['alice@[127.0.0.1]', /address literal/],
  ])('refuses %j', (input, why) => {
    const r = checkAddress('body.address', input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(why);
  });
});

describe('checkAliasSource', () => {
  test('catch-all and address forms', () => {
    expect(checkAliasSource('s', '@Example.org')).toEqual({ ok: true, value: { source: '@example.org', domain: 'example.org', catchAll: true } });
    expect(checkAliasSource('s', 'Info@Example.org')).toEqual({ ok: true, value: { source: 'Info@example.org', domain: 'example.org', catchAll: false } });
  });
  test.each(['@', '@@example.org', 'info@', '@exa\rmple.org'])('refuses %j', (input) => {
    expect(checkAliasSource('s', input).ok).toBe(false);
  });
});

describe('checkAliasTargets', () => {
  test('normalises addresses and @domain rewrites', () => {
    expect(checkAliasTargets('t', ['Bob@Example.NET', '@Other.Example'])).toEqual({ ok: true, value: ['Bob@example.net', '@other.example'] });
  });
  test('names the offending element', () => {
    const r = checkAliasTargets('body.targets', ['ok@example.org', 'bad\n@example.org']);
    expect(r).toEqual({ ok: false, message: 'body.targets[1] contains control characters' });
  });
  test('refuses case-insensitive duplicates', () => {
    const r = checkAliasTargets('t', ['bob@example.org', 'bob@EXAMPLE.org']);
    expect(r.ok).toBe(false);
  });
  test('refuses an empty list', () => {
    expect(checkAliasTargets('t', []).ok).toBe(false);
  });
});

describe('control characters', () => {
  test('the schema pattern and the regex agree', () => {
    const pattern = new RegExp(NO_CONTROL_CHARS_PATTERN, 'u');
    for (let c = 0; c < 0x3000; c++) {
      const s = `a${String.fromCharCode(c)}b`;
      expect(pattern.test(s)).toBe(!CONTROL_CHARS.test(s));
    }
    expect(CONTROL_CHARS.test('a\u2028b')).toBe(true);
    expect(CONTROL_CHARS.test('a\u0085b')).toBe(true);
  });
});
