import { describe, expect, it } from 'vitest';
import { decodeXtext, dsnParameterError, encodeXtext, parseNotify } from './dsn-params.ts';

describe('xtext (RFC 3461 §4)', () => {
  it.each([
    ['abc', 'abc'],
    ['a+2Bb', 'a+b'],
    ['a+3Db', 'a=b'],
    ['+20', ' '],
    ['', ''],
  ])('decodes %j', (raw, decoded) => expect(decodeXtext(raw)).toBe(decoded));

  it.each(['a+2b', 'a+zz', 'a+2', 'a=b', 'a+', 'é', 'a\x7fb'])('refuses %j', (raw) => expect(decodeXtext(raw)).toBeNull());

  it('encodes what decodes back', () => {
    for (const s of ['rfc822;a+b=c@x.test', 'id with space', 'plain']) expect(decodeXtext(encodeXtext(s))).toBe(s);
    expect(encodeXtext('rfc822;a+b=c@x')).toBe('rfc822;a+2Bb+3Dc@x');
  });
});

describe('NOTIFY (RFC 3461 §4.1)', () => {
  it.each([
    ['NEVER', ['NEVER']],
    ['success', ['SUCCESS']],
    ['SUCCESS,FAILURE,DELAY', ['SUCCESS', 'FAILURE', 'DELAY']],
    ['NEVER,SUCCESS', null],
    ['FAILURE,NEVER', null],
    ['SUCCESS,SUCCESS', null],
    ['ALWAYS', null],
    ['', null],
    ['SUCCESS,', null],
  ])('%j → %j', (value, parsed) => expect(parseNotify(value)).toEqual(parsed));
});

describe('dsnParameterError', () => {
  it.each([
    'MAIL FROM:<a@x.test>',
    'MAIL FROM:<> RET=HDRS ENVID=QQ314159',
    'MAIL FROM:<a@x.test> BODY=8BITMIME RET=full ENVID=a+2Bb',
    'RCPT TO:<b@y.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@y.test',
    'RCPT TO:<b@y.test> ORCPT=rfc822;b+2Bx@y.test',
    'rcpt to:<b@y.test> notify=never',
    'EHLO x.test',
    `MAIL FROM:<a@x.test> ENVID=${'a'.repeat(100)}`,
  ])('accepts %j', (line) => expect(dsnParameterError(line)).toBeNull());

  it.each([
    ['MAIL FROM:<a@x.test> RET=BODY', /RET must be FULL or HDRS/],
    ['MAIL FROM:<a@x.test> RET', /RET parameter requires a value/],
    ['MAIL FROM:<a@x.test> RET=FULL RET=HDRS', /Duplicate RET/],
    ['MAIL FROM:<a@x.test> ENVID=a+zz', /Bad xtext in ENVID/],
    ['MAIL FROM:<a@x.test> ENVID=a=b', /Bad xtext in ENVID/],
    [`MAIL FROM:<a@x.test> ENVID=${'a'.repeat(101)}`, /ENVID longer than 100/],
    ['MAIL FROM:<a@x.test> ENVID=1 ENVID=2', /Duplicate ENVID/],
    ['RCPT TO:<b@y.test> NOTIFY=NEVER,SUCCESS', /NOTIFY must be NEVER/],
    ['RCPT TO:<b@y.test> NOTIFY=SOMETIMES', /NOTIFY must be NEVER/],
    ['RCPT TO:<b@y.test> NOTIFY=SUCCESS NOTIFY=FAILURE', /Duplicate NOTIFY/],
    ['RCPT TO:<b@y.test> ORCPT=b@y.test', /ORCPT must be addr-type;address/],
    ['RCPT TO:<b@y.test> ORCPT=rfc822;b+zz@y.test', /Bad xtext in ORCPT/],
    ['RCPT TO:<b@y.test> ORCPT=rfc822;b+0D+0A@y.test', /Bad xtext in ORCPT/],
    [`RCPT TO:<b@y.test> ORCPT=rfc822;${'b'.repeat(500)}@y.test`, /ORCPT longer than 500/],
  ])('refuses %j', (line, error) => expect(dsnParameterError(line)).toMatch(error));
});
