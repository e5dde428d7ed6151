import { describe, expect, it } from 'vitest';
import { createBatcher } from './batcher.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('createBatcher', () => {
  it('joins the calls of one turn into one batch; each caller gets its own result', async () => {
    const batches: number[][] = [];
    const b = createBatcher<number, number>(
      async (xs) => {
        batches.push([...xs]);
        return xs.map((x) => x * 2);
      },
      async (x) => x * 2,
    );
    expect(await Promise.all([1, 2, 3, 4].map(b))).toEqual([2, 4, 6, 8]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('a lone call runs alone, through `one`', async () => {
    const calls: string[] = [];
    const b = createBatcher<number, number>(
      async (xs) => (calls.push('many'), xs),
      async (x) => (calls.push('one'), x),
    );
    expect(await b(5)).toBe(5);
    expect(calls).toEqual(['one']);
  });

  it('keeps at most maxInFlight batches of at most maxBatch; later calls wait and are batched together', async () => {
    let inFlight = 0;
    let peak = 0;
    const sizes: number[] = [];
    const b = createBatcher<number, number>(
      async (xs) => {
        peak = Math.max(peak, ++inFlight);
        sizes.push(xs.length);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return xs;
      },
      async (x) => {
        peak = Math.max(peak, ++inFlight);
        sizes.push(1);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return x;
      },
      { maxInFlight: 2, maxBatch: 10 },
    );
    const xs = Array.from({ length: 55 }, (_, i) => i);
    expect(await Promise.all(xs.map(b))).toEqual(xs);
    expect(peak).toBe(2);
    expect(Math.max(...sizes)).toBe(10);
    expect(sizes.reduce((a, c) => a + c, 0)).toBe(55);
  });

  it('minIntervalMs: an idle batcher starts at once; calls within the interval wait and go together', async () => {
    const starts: { at: number; items: number[] }[] = [];
    const record = async (xs: readonly number[]) => (starts.push({ at: performance.now(), items: [...xs] }), xs);
    const b = createBatcher<number, number>(record, async (x) => (await record([x]))[0]!, { minIntervalMs: 40 });
    const t0 = performance.now();
    await b(1);
    // Within the interval, in three different turns: they wait for it, then go as one batch.
    const later = [b(2)];
    await tick();
    later.push(b(3));
    await new Promise((r) => setTimeout(r, 5));
    later.push(b(4));
    expect(await Promise.all(later)).toEqual([2, 3, 4]);
    expect(starts.map((s) => s.items)).toEqual([[1], [2, 3, 4]]);
    expect(starts[0]!.at - t0).toBeLessThan(20);
    expect(starts[1]!.at - starts[0]!.at).toBeGreaterThanOrEqual(39);
    // Idle for longer than the interval: at once again.
    await new Promise((r) => setTimeout(r, 50));
    const t1 = performance.now();
    await b(5);
    expect(starts[2]!.items).toEqual([5]);
    expect(starts[2]!.at - t1).toBeLessThan(20);
  });

  it('never puts two items with the same key in one batch', async () => {
    const batches: string[][] = [];
    const b = createBatcher<string, string>(
      async (xs) => (batches.push([...xs]), xs),
      async (x) => (batches.push([x]), x),
      { maxInFlight: 1, key: (x) => x },
    );
    await Promise.all(['a', 'b', 'a', 'c', 'a'].map(b));
    for (const batch of batches) expect(new Set(batch).size).toBe(batch.length);
    expect(batches.flat().sort()).toEqual(['a', 'a', 'a', 'b', 'c']);
  });

  it('a failed batch is run again item by item: the bad item fails alone', async () => {
    const b = createBatcher<number, number>(
      async (xs) => {
        if (xs.includes(3)) throw new Error('batch failed');
        return xs;
      },
      async (x) => {
        if (x === 3) throw new Error('three is bad');
        return x;
      },
    );
    const results = await Promise.allSettled([1, 2, 3, 4].map(b));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason.message).toBe('three is bad');
    await tick();
  });
});
