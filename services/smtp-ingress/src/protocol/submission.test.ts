import { describe, expect, it } from 'vitest';
import { fromAddresses, mailboxAddresses, missingSubmissionFields } from './submission.ts';

describe('mailboxAddresses (RFC 5322 §3.4 From: syntax)', () => {
  it.each([
    ['a@x.org', ['a@x.org']],
    ['Alice <a@x.org>', ['a@x.org']],
    ['"Doe, John" <j@x.org>', ['j@x.org']],
    ['"A <b@evil.test>" <a@x.org>', ['a@x.org']],
    ['(comment <c@evil.test>) a@x.org (more)', ['a@x.org']],
    ['Alice <a@x.org>, Bob <b@y.org>', ['a@x.org', 'b@y.org']],
    ['team: a@x.org, Bob <b@y.org>;', ['a@x.org', 'b@y.org']],
    ['undisclosed-recipients:;', []],
    ['', []],
    ['=?UTF-8?Q?J=C3=B6rg?= <j@x.org>', ['j@x.org']],
  ])('%j', (value, expected) => {
    expect(mailboxAddresses(value)).toEqual(expected);
  });
});

describe('fromAddresses / missingSubmissionFields', () => {
  const msg = (h: string) => Buffer.from(`${h}\r\nbody From: x@y\r\n`);
  it('reads every From: field (folded too) and only the header section', () => {
    expect(fromAddresses(msg('Subject: x\r\nFrom: Alice\r\n <a@x.org>\r\n'))).toEqual(['a@x.org']);
    expect(fromAddresses(msg('From: a@x.org\r\nFROM: b@y.org\r\n'))).toEqual(['a@x.org', 'b@y.org']);
    expect(fromAddresses(msg('Subject: x\r\n'))).toBeNull();
  });
  it('adds Date and Message-ID only when missing (RFC 6409 §8.2, §8.3)', () => {
    const date = new Date(Date.UTC(2026, 10, 28, 12, 0, 0));
    expect(missingSubmissionFields(msg('From: a@x.org\r\n'), { id: 'ID', hostname: 'mx.test', date })).toEqual({
      fields: 'Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <ID@mx.test>\r\n',
      messageId: '<ID@mx.test>',
    });
    expect(missingSubmissionFields(msg('From: a@x.org\r\nDate: x\r\nMessage-Id: <m@x>\r\n'), { id: 'ID', hostname: 'mx.test', date })).toEqual({ fields: '', messageId: null });
  });
});
