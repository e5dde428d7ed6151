import { expect, test } from 'vitest';
import { decodeCursor, encodeCursor } from './cursor.ts';

test('round-trips any key, including non-ASCII', () => {
  for (const k of ['a', 'alice@example.org', '@bücher.example', 'x'.repeat(1024)]) {
    const c = encodeCursor(k);
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c)).toBe(k);
  }
});

test.each([
  ['', 'empty'],
  ['not base64!', 'bad alphabet'],
  [Buffer.from('{"v":2,"k":"a"}').toString('base64url'), 'other version'],
  [Buffer.from('{"v":1,"k":""}').toString('base64url'), 'empty key'],
  [Buffer.from('{"v":1,"k":5}').toString('base64url'), 'non-string key'],
  [Buffer.from('[1]').toString('base64url'), 'not an object'],
  [Buffer.from('nope').toString('base64url'), 'not JSON'],
])('refuses %j (%s)', (cursor) => {
  expect(decodeCursor(cursor)).toBeNull();
});
