import { describe, expect, it } from 'vitest';
import { dotStuff, foldLongLines, headerSection, toCrlf } from './wire.ts';

describe('toCrlf', () => {
  it.each([
    ['a\nb\n', 'a\r\nb\r\n'],
    ['a\r\nb\r\n', 'a\r\nb\r\n'],
    ['a\rb', 'a\r\nb'],
    ['a\r\r\nb\n\n', 'a\r\n\r\nb\r\n\r\n'],
    ['\n.\n', '\r\n.\r\n'],
  ])('%j → %j', (input, out) => {
    expect(toCrlf(Buffer.from(input)).toString()).toBe(out);
  });
  it('returns the same buffer when already canonical', () => {
    const b = Buffer.from('x\r\ny\r\n');
    expect(toCrlf(b)).toBe(b);
  });
});

describe('dotStuff', () => {
  it('doubles leading dots and terminates', () => {
    expect(dotStuff(Buffer.from('.a\r\nb\r\n..c\r\n')).toString()).toBe('..a\r\nb\r\n...c\r\n.\r\n');
    expect(dotStuff(Buffer.from('no newline')).toString()).toBe('no newline\r\n.\r\n');
  });
});

describe('headerSection', () => {
  it('stops before the blank line', () => {
    expect(headerSection(Buffer.from('A: 1\r\nB: 2\r\n\r\nbody\r\n')).toString()).toBe('A: 1\r\nB: 2\r\n');
  });
});

describe('foldLongLines (RFC 5321 §4.5.3.1.6: 998 octets + CRLF)', () => {
  const lines = (b: Buffer) => b.toString('utf8').split('\r\n');
  const longest = (b: Buffer) => Math.max(...b.toString('latin1').split('\r\n').map((l) => l.length));

  it('returns the same buffer when every line fits, a 998-octet line included', () => {
    const b = Buffer.from(`A: 1\r\n\r\n${'x'.repeat(998)}\r\nend\r\n`);
    expect(foldLongLines(b)).toBe(b);
  });

  it('a header folds before whitespace: unfolding gives the same header back', () => {
    const value = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const out = foldLongLines(Buffer.from(`Subject: ${value}\r\n\r\nbody\r\n`));
    expect(longest(out)).toBeLessThanOrEqual(998);
    const header = out.toString().split('\r\n\r\n')[0]!;
    expect(header.replace(/\r\n(?=[ \t])/g, '')).toBe(`Subject: ${value}`);
    expect(out.toString().endsWith('\r\n\r\nbody\r\n')).toBe(true);
  });

  it('a line without whitespace breaks with CRLF SP every 998 octets, nothing lost', () => {
    const body = 'y'.repeat(5000);
    const out = foldLongLines(Buffer.from(`A: 1\r\n\r\n${body}\r\nnext\r\n`));
    expect(longest(out)).toBeLessThanOrEqual(998);
    const parts = lines(out).slice(2, -2);
    expect(parts.map((p, i) => (i === 0 ? p : p.slice(1))).join('')).toBe(body);
    expect(parts.slice(1).every((p) => p.startsWith(' '))).toBe(true);
    expect(lines(out).slice(-2)).toEqual(['next', '']);
  });

  it('never splits a UTF-8 sequence, and a last line without CRLF is folded too', () => {
    const body = 'é'.repeat(1500); // 3,000 octets
    const out = foldLongLines(Buffer.from(`A: 1\r\n\r\n${body}`));
    expect(longest(out)).toBeLessThanOrEqual(998);
    expect(out.toString('utf8')).not.toContain('\ufffd');
    expect(lines(out).slice(2).map((p, i) => (i === 0 ? p : p.slice(1))).join('')).toBe(body);
  });
});
