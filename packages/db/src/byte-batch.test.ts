import { describe, expect, it } from 'vitest';
import { splitByteBatch } from './byte-batch.ts';

describe('splitByteBatch', () => {
  it('cuts the decoded data by the lengths in order, absent values null', () => {
    const a = Buffer.from([0, 1, 2, 255]);
    const b = Buffer.from('hello\r\n.\r\n');
    const data = Buffer.concat([a, b]).toString('base64').replace(/(.{8})/g, '$1\n'); // encode() breaks lines
    expect(splitByteBatch(`${a.length},-1,${b.length},0`, data, 4)).toEqual([a, null, b, Buffer.alloc(0)]);
    expect(splitByteBatch(null, null, 2)).toEqual([null, null]);
  });

  it('refuses lengths that do not add up to the data', () => {
    expect(() => splitByteBatch('3', Buffer.from('abcd').toString('base64'), 1)).toThrow(/does not add up/);
  });
});
