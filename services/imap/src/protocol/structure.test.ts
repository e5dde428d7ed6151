import { describe, expect, it } from 'vitest';
import { join } from './encoder.ts';
import { parseMessage, partAt } from './mime.ts';
import { bodyStructure, envelope } from './structure.ts';

const multipart = Buffer.from(
  [
    'From: a@example.net',
    'Subject: parts',
    'Content-Type: multipart/mixed; boundary="XX"',
    '',
    'preamble',
    '--XX',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'hello',
    '--XX',
    'Content-Type: application/octet-stream; name="a.bin"',
    'Content-Transfer-Encoding: base64',
    'Content-Disposition: attachment; filename="a.bin"',
    '',
    'AAEC',
    '--XX--',
    '',
  ].join('\r\n'),
);

describe('MIME tree, BODYSTRUCTURE, ENVELOPE', () => {
  it('describes a multipart message and finds its parts', () => {
    const tree = parseMessage(multipart);
    expect(tree.children).toHaveLength(2);
    expect(partAt(tree, [1])!.body.toString()).toBe('hello');
    expect(partAt(tree, [2])!.body.toString()).toBe('AAEC');
    expect(partAt(tree, [3])).toBeNull();
    expect(join(bodyStructure(tree, true, false)).toString()).toBe(
      '(("text" "plain" ("CHARSET" "utf-8") NIL NIL "7bit" 5 0 NIL NIL NIL NIL)("application" "octet-stream" ("NAME" "a.bin") NIL NIL "base64" 4 NIL ("attachment" ("FILENAME" "a.bin")) NIL NIL) "mixed" ("BOUNDARY" "XX") NIL NIL NIL)',
    );
  });

  it('groups and missing fields in ENVELOPE', () => {
    const h = Buffer.from('From: a@example.net\r\nTo: undisclosed-recipients:;\r\n\r\n');
    expect(join(envelope(h, false)).toString()).toBe(
      '(NIL NIL ((NIL NIL "a" "example.net")) ((NIL NIL "a" "example.net")) ((NIL NIL "a" "example.net")) ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)',
    );
  });

  it('stays bounded on a bomb of nested multiparts', () => {
    const depth = 5_000;
    let raw = '';
    for (let i = 0; i < depth; i++) raw += `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`;
    const started = Date.now();
    parseMessage(Buffer.from(raw));
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

import { baseSubject } from './sort.ts';

describe('RFC 5256 base subject', () => {
  it.each([
    ['Re: hello', 'hello'],
    ['RE: Re: [list] Fwd: hello (fwd)', 'hello'],
    ['[Fwd: hello]', 'hello'],
    ['  Hello   World ', 'hello world'],
    ['[tag]', '[tag]'],
  ])('%j → %j', (s, base) => {
    expect(baseSubject(s)).toBe(base);
  });
});
