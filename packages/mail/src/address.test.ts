import { describe, expect, it } from 'vitest';
import { parseAddress, stripSubaddress } from './address.ts';

describe('parseAddress', () => {
  it.each([
    ['user@example.com', { local: 'user', domain: 'example.com' }],
    ['User.Name@Example.COM', { local: 'User.Name', domain: 'example.com' }],
    ['a+tag@x.org', { local: 'a+tag', domain: 'x.org' }],
    ['"quoted local"@x.org', { local: '"quoted local"', domain: 'x.org' }],
    ['jörg@bücher.de', { local: 'jörg', domain: 'bücher.de' }],
  ])('accepts %s', (input, expected) => {
    expect(parseAddress(input)).toEqual(expected);
  });

  it.each([
    ['', 'empty'],
    ['noatsign', 'syntax'],
    ['@x.org', 'syntax'],
    ['user@', 'syntax'],
    ['us er@x.org', 'syntax'],
    ['a..b@x.org', 'syntax'],
    ['user@-bad.org', 'syntax'],
    ['user@x.org\r\nRCPT TO:<evil@x.org>', 'control-char'],
    ['x'.repeat(65) + '@x.org', 'local-too-long'],
    ['user\u0085@x.org', 'control-char'],
    ['user@x\u2028.org', 'control-char'],
    ['user\u007f@x.org', 'control-char'],
    ['x'.repeat(60) + '@' + ['b', 'c', 'd', 'e'].map((c) => c.repeat(49)).join('.') + '.org', 'too-long'],
    ['a@' + 'b'.repeat(63) + '.' + 'c'.repeat(63) + '.' + 'd'.repeat(63) + '.' + 'e'.repeat(63) + '.org', 'domain-too-long'],
  ])('rejects %j as %s', (input, error) => {
    expect(parseAddress(input)).toEqual({ error });
  });
});

describe('stripSubaddress', () => {
  it.each([
    ['user+tag', '+', 'user'],
    ['user', '+', undefined],
    ['+tag', '+', undefined],
    ['user-tag', '-', 'user'],
    ['user+tag', '', undefined],
  ])('%s with %j', (local, delim, expected) => {
    expect(stripSubaddress(local, delim)).toBe(expected);
  });
});
