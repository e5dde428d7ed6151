import { describe, expect, it } from 'vitest';
import { decodeMutf7, encodeMutf7, join, list, literal, mailboxName, nstr, quoted, str } from './encoder.ts';

describe('strings (RFC 9051 §4.3)', () => {
  it.each([
    ['plain', '"plain"'],
    ['with "quotes" and \\', '"with \\"quotes\\" and \\\\"'],
    ['', '""'],
  ])('%j goes out quoted', (input, out) => {
    expect(str(input)).toBe(out);
  });

  it.each([['two\r\nlines'], ['nul\0'], ['bare\nlf'], ['x'.repeat(1025)]])('%j goes out as a literal', (input) => {
    expect(join([str(input)]).toString()).toBe(`{${Buffer.byteLength(input)}}\r\n${input}`);
  });

  it('8-bit text is quoted only for UTF-8 clients, and a literal counts octets', () => {
    expect(str('Grüße', true)).toBe('"Grüße"');
    expect(join([str('Grüße')]).toString()).toBe('{7}\r\nGrüße');
    expect(literal('é').toString()).toBe('{2}\r\né');
  });

  it('NIL, lists and raw buffers', () => {
    expect(nstr(null)).toBe('NIL');
    expect(join(list([['"a"'], ['NIL'], [quoted('b')]])).toString()).toBe('("a" NIL "b")');
    expect(join([str(Buffer.from([0x41, 0x0d, 0x0a]))])).toEqual(Buffer.from('{3}\r\nA\r\n'));
  });
});

describe('mailbox names', () => {
  it.each([
    ['INBOX', 'INBOX'],
    ['Entwürfe', 'Entw&APw-rfe'],
    ['Ту & Я', '&BCIEQw- &- &BC8-'],
    ['日本語', '&ZeVnLIqe-'],
    ['a&b', 'a&-b'],
    ['😀', '&2D3eAA-'],
  ])('%s ↔ modified UTF-7 %s (RFC 3501 §5.1.3)', (name, mutf7) => {
    expect(encodeMutf7(name)).toBe(mutf7);
    expect(decodeMutf7(mutf7)).toBe(name);
  });

  it('refuses what is not modified UTF-7', () => {
    expect(decodeMutf7('Grüße')).toBeNull();
    expect(decodeMutf7('&AP')).toBeNull();
    expect(decodeMutf7('&A/w-')).toBeNull();
  });

  it('UTF-8 for IMAP4rev2 and UTF8=ACCEPT clients, modified UTF-7 otherwise', () => {
    expect(mailboxName('Entwürfe', true)).toBe('"Entwürfe"');
    expect(mailboxName('Entwürfe', false)).toBe('"Entw&APw-rfe"');
  });
});
