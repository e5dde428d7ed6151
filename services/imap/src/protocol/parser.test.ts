import { describe, expect, it } from 'vitest';
import { CommandReader, ParseError, tokenize } from './parser.ts';
import { formatSet, parseSequenceSet } from './sequence.ts';
import { matchPattern, validateMailboxName } from '../policy/names.ts';

const limits = { maxLineOctets: 100, maxLiteralOctets: 1_000, maxCommandOctets: 2_000 };

function drain(r: CommandReader) {
  const out = [];
  for (let i = r.next(); i; i = r.next()) out.push(i);
  return out;
}

describe('CommandReader', () => {
  it('splits pipelined commands and survives any chunking', () => {
    const bytes = Buffer.from('a1 NOOP\r\na2 LOGIN {4}\r\nuser {4+}\r\npass\r\na3 LOGOUT\r\n');
    for (let size = 1; size <= bytes.length; size++) {
      const r = new CommandReader(limits);
      const items = [];
      for (let i = 0; i < bytes.length; i += size) {
        r.push(bytes.subarray(i, i + size));
        items.push(...drain(r));
      }
      expect(items.map((x) => x.type)).toEqual(['command', 'continue', 'command', 'command']);
      const login = items[2] as { line: string; literals: Buffer[] };
      expect(login.line).toBe('a2 LOGIN {0} {1}');
      expect(login.literals.map(String)).toEqual(['user', 'pass']);
    }
  });

  it('refuses an oversized synchronizing literal before it is sent, and closes on an oversized LITERAL+', () => {
    const r = new CommandReader(limits);
    r.push(Buffer.from('a1 APPEND INBOX {2147483648}\r\n'));
    expect(drain(r)).toEqual([{ type: 'refused', tag: 'a1', reason: 'literal-too-big', fatal: false }]);
    r.push(Buffer.from('a2 APPEND INBOX {2147483648+}\r\n'));
    expect(drain(r)).toEqual([{ type: 'refused', tag: 'a2', reason: 'literal-too-big', fatal: true }]);
  });

  it('refuses an overlong line without buffering it, then carries on', () => {
    const r = new CommandReader(limits);
    r.push(Buffer.from(`a1 NOOP ${'x'.repeat(150)}`));
    expect(drain(r)).toEqual([{ type: 'refused', tag: 'a1', reason: 'line-too-long', fatal: false }]);
    expect(r.pending).toBe(0);
    r.push(Buffer.from(`${'x'.repeat(500)}\r\na2 NOOP\r\n`));
    expect(drain(r)).toEqual([{ type: 'command', line: 'a2 NOOP', literals: [] }]);
  });
});

describe('tokenize', () => {
  it('atoms with brackets, quoted strings, literals, nested lists, flags', () => {
    expect(tokenize('1:* (FLAGS BODY.PEEK[HEADER.FIELDS (To From)]<0.10>) "a \\"b\\"" {0} (\\Seen $x)', [Buffer.from('lit')])).toEqual([
      { t: 'atom', v: '1:*' },
      { t: 'list', v: [{ t: 'atom', v: 'FLAGS' }, { t: 'atom', v: 'BODY.PEEK[HEADER.FIELDS (To From)]<0.10>' }] },
      { t: 'string', v: Buffer.from('a "b"') },
      { t: 'string', v: Buffer.from('lit') },
      { t: 'list', v: [{ t: 'atom', v: '\\Seen' }, { t: 'atom', v: '$x' }] },
    ]);
  });

  it.each([['('.repeat(40) + ')'.repeat(40)], ['(a'], ['a)'], ['"open'], ['{5}'], ['a\x01b']])('%j is a parse error', (line) => {
    expect(() => tokenize(line, [])).toThrow(ParseError);
  });
});

describe('sequence sets', () => {
  it('keeps ranges, resolves *, never expands', () => {
    expect(parseSequenceSet('1:4,7,10:*', 20)).toEqual([[1, 4], [7, 7], [10, 20]]);
    expect(parseSequenceSet('*:*', 5)).toEqual([[5, 5]]);
    expect(parseSequenceSet('4294967295:1', 5)).toEqual([[1, 4294967295]]);
    expect(parseSequenceSet('0', 5)).toBeNull();
    expect(parseSequenceSet('1:x', 5)).toBeNull();
    expect(parseSequenceSet(Array.from({ length: 100_000 }, (_, i) => i + 1).join(','), 5)).toBeNull();
    expect(formatSet([7, 1, 2, 3, 9])).toBe('1:3,7,9');
  });
});

describe('mailbox names and LIST patterns', () => {
  it.each([
    ['Work/2026', null],
    ['a/../b', '"." and ".." are not mailbox names'],
    ['a//b', 'empty hierarchy level'],
    ['/a', 'empty hierarchy level'],
    ['a\x07b', 'control characters in mailbox name'],
    ['a*', 'wildcards in mailbox name'],
    [Array(40).fill('x').join('/'), 'more than 32 levels'],
  ])('%j → %j', (name, problem) => {
    expect(validateMailboxName(name)).toBe(problem);
  });

  it('* crosses levels, % does not; INBOX is case-insensitive; no blow-up on many stars', () => {
    expect(matchPattern('*', 'a/b/c')).toBe(true);
    expect(matchPattern('%', 'a/b')).toBe(false);
    expect(matchPattern('a/%', 'a/b')).toBe(true);
    expect(matchPattern('inbox', 'INBOX')).toBe(true);
    const started = Date.now();
    expect(matchPattern('*a'.repeat(50) + 'b', 'a'.repeat(400))).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
