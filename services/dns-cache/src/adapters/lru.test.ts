import { describe, expect, it } from 'vitest';
import { Lru } from './lru.ts';

describe('Lru', () => {
  it('evicts the least recently used entry', () => {
    const l = new Lru<number>(2);
    l.set('a', 1);
    l.set('b', 2);
    expect(l.get('a')).toBe(1); // a is now the most recent
    l.set('c', 3);
    expect([l.get('a'), l.get('b'), l.get('c'), l.size]).toEqual([1, undefined, 3, 2]);
  });
  it('size 0 keeps nothing', () => {
    const l = new Lru<number>(0);
    l.set('a', 1);
    expect(l.get('a')).toBeUndefined();
  });
});
