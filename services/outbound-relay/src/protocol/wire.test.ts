import { describe, expect, it } from 'vitest';
import { dotStuff, headerSection, toCrlf } from './wire.ts';

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
