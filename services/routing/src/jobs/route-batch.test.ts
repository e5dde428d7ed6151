// How a job that carries several messages ends, from how each of them ended.
import { describe, expect, it } from 'vitest';
import { routeBatch } from './route-batch.ts';

class Permanent extends Error {}
const isPermanent = (e: unknown) => e instanceof Permanent;

describe('routeBatch', () => {
  it('routes every message, each on its own; a failure does not stop the others', async () => {
    const routed: string[] = [];
    const outcome = await routeBatch(['a', 'b', 'c', 'd'], async (id) => {
      if (id === 'b') throw new Error('database away');
      if (id === 'c') throw new Permanent('message missing');
      routed.push(id);
    }, isPermanent);
    expect(routed.sort()).toEqual(['a', 'd']);
    expect(outcome.retry).toEqual(['b']);
    expect((outcome.retryError as Error).message).toBe('database away');
    expect(outcome.permanent.map((p) => p.messageId)).toEqual(['c']);
  });

  it('all routed: nothing to retry, nothing dropped', async () => {
    expect(await routeBatch(['a', 'b'], async () => {}, isPermanent)).toEqual({ retry: [], retryError: null, permanent: [] });
  });

  it('keeps the order of the messages to retry, and the first error', async () => {
    const outcome = await routeBatch(['a', 'b', 'c'], async (id) => {
      throw new Error(`fail ${id}`);
    }, isPermanent);
    expect(outcome.retry).toEqual(['a', 'b', 'c']);
    expect((outcome.retryError as Error).message).toBe('fail a');
  });
});
