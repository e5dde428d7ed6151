import { describe, expect, it } from 'vitest';
import { createPeriodic } from './periodic.ts';

const tick = () => new Promise((r) => setTimeout(r, 1));
async function until(cond: () => boolean, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met');
    await tick();
  }
}

describe('createPeriodic', () => {
  it('runs the first pass after firstDelayMs, then one intervalMs after each pass ends; never two at once', async () => {
    let running = 0;
    let peak = 0;
    const starts: number[] = [];
    const p = createPeriodic(
      async () => {
        starts.push(Date.now());
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 30));
        running--;
      },
      { intervalMs: 10, firstDelayMs: 0 },
    );
    p.start();
    p.start(); // a second start is a no-op
    await until(() => starts.length >= 3);
    await p.stop();
    expect(peak).toBe(1);
    // Each pass starts at least 30 ms (the pass) + 10 ms (the interval) after the previous one.
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(38);
  });

  it('a failing pass is reported and the next one still runs', async () => {
    const errors: unknown[] = [];
    let n = 0;
    const p = createPeriodic(
      async () => {
        if (++n === 1) throw new Error('database away');
      },
      { intervalMs: 5, firstDelayMs: 0, onError: (e) => errors.push(e) },
    );
    p.start();
    await until(() => n >= 2);
    await p.stop();
    expect((errors[0] as Error).message).toBe('database away');
  });

  it('stop() waits for the pass in progress, which sees `closing`; no pass starts after it', async () => {
    let sawClosing = false;
    let passes = 0;
    let release: () => void = () => {};
    const p = createPeriodic(
      async () => {
        passes++;
        await new Promise<void>((r) => (release = r));
        sawClosing = p.closing;
      },
      { intervalMs: 1, firstDelayMs: 0 },
    );
    expect(p.closing).toBe(false);
    p.start();
    await until(() => passes === 1);
    const stopped = p.stop();
    release();
    await stopped;
    expect(sawClosing).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(passes).toBe(1);
  });

  it('stop() gives up on a pass that hangs after stopTimeoutMs', async () => {
    const p = createPeriodic(() => new Promise(() => {}), { intervalMs: 1, firstDelayMs: 0, stopTimeoutMs: 50 });
    p.start();
    await tick();
    await tick();
    const t0 = Date.now();
    await p.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
