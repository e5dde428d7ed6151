import { describe, expect, it } from 'vitest';
import { afterTemporaryFailure, isExpired, needsDelayWarning, retryDelay, type RetryPolicy } from './retry.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const def: RetryPolicy = { schedule: [], minMs: 5 * MIN, maxMs: HOUR, maxAgeMs: 5 * 24 * HOUR, delayWarningMs: 4 * HOUR };

describe('retry policy', () => {
  it.each([
    [1, 5 * MIN],
    [2, 10 * MIN],
    [3, 20 * MIN],
    [4, 40 * MIN],
    [5, HOUR],
    [50, HOUR],
  ])('default schedule: after attempt %i wait %i ms', (n, ms) => {
    expect(retryDelay(def, n)).toBe(ms);
  });

  it('explicit schedule repeats its last step', () => {
    const p = { ...def, schedule: [10, 20, 50] };
    expect([1, 2, 3, 4, 9].map((n) => retryDelay(p, n))).toEqual([10, 20, 50, 50, 50]);
  });

  it('expires after max age and never schedules past it', () => {
    const received = new Date('2026-01-01T00:00:00Z');
    const almost = new Date(received.getTime() + def.maxAgeMs - 60_000);
    expect(afterTemporaryFailure(def, received, 40, almost)).toEqual({ kind: 'retry', nextAttemptAt: new Date(received.getTime() + def.maxAgeMs) });
    const late = new Date(received.getTime() + def.maxAgeMs);
    expect(afterTemporaryFailure(def, received, 41, late).kind).toBe('expire');
    expect(isExpired(def, received, late)).toBe(true);
    expect(isExpired(def, received, almost)).toBe(false);
  });

  it('warns once after the delay-warning time, never when off', () => {
    const received = new Date('2026-01-01T00:00:00Z');
    const t = new Date(received.getTime() + 4 * HOUR);
    expect(needsDelayWarning(def, received, new Date(t.getTime() - 1), false)).toBe(false);
    expect(needsDelayWarning(def, received, t, false)).toBe(true);
    expect(needsDelayWarning(def, received, t, true)).toBe(false);
    expect(needsDelayWarning({ ...def, delayWarningMs: 0 }, received, t, false)).toBe(false);
  });
});
