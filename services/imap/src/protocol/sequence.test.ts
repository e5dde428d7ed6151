import { describe, expect, it } from 'vitest';
import { formatSet, parseSequenceSet, seqOfUid } from './sequence.ts';

describe('seqOfUid', () => {
  it('is the 1-based position of a UID in an ascending view, 0 when absent', () => {
    expect(seqOfUid([], 1)).toBe(0);
    const view = [3, 5, 9];
    expect([1, 3, 4, 5, 8, 9, 10].map((u) => seqOfUid(view, u))).toEqual([0, 1, 0, 2, 0, 3, 0]);
  });

  it('agrees with indexOf over a large view with gaps', () => {
    const view: number[] = [];
    for (let u = 1, k = 0; view.length < 100_000; u += 1 + (k++ % 3)) view.push(u);
    for (let u = 0; u <= view.at(-1)! + 2; u += 997) expect(seqOfUid(view, u)).toBe(view.indexOf(u) + 1);
  });
});

describe('sequence sets', () => {
  it('parse and format', () => {
    expect(parseSequenceSet('1:4,7,*', 10)).toEqual([[1, 4], [7, 7], [10, 10]]);
    expect(formatSet([7, 1, 2, 3])).toBe('1:3,7');
  });
});
