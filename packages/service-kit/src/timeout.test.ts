import { describe, expect, it } from 'vitest';
import { settleWithin, TimeoutError, withTimeout } from './timeout.ts';

const never = () => new Promise<never>(() => {});
const later = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

describe('withTimeout', () => {
  it('passes a result or an error through', async () => {
    expect(await withTimeout(later(5, 'x'), 1000)).toBe('x');
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000)).rejects.toThrow('boom');
  });

  it('rejects with a TimeoutError naming what did not finish', async () => {
    const err = await withTimeout(never(), 20, 'Redis INCR').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).message).toBe('Redis INCR did not finish within 20 ms');
    expect((err as TimeoutError).ms).toBe(20);
  });

  it('leaves no timer behind once settled (the event loop can end)', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await withTimeout(Promise.resolve(1), 60_000);
    await withTimeout(Promise.reject(new Error('x')), 60_000).catch(() => {});
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
  });
});

describe('settleWithin', () => {
  it('true when the promise settled in time (either way), false at the deadline, never throws', async () => {
    expect(await settleWithin(later(5, 1), 1000)).toBe(true);
    expect(await settleWithin(Promise.reject(new Error('x')), 1000)).toBe(true);
    expect(await settleWithin(undefined, 10)).toBe(true);
    expect(await settleWithin(never(), 20)).toBe(false);
  });
});
