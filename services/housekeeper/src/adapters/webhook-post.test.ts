import { describe, expect, it } from 'vitest';
import { HousekeeperError } from '../errors.ts';
import { publicOnlyLookup } from './webhook-post.ts';

describe('publicOnlyLookup', () => {
  it('refuses a name that resolves to loopback', async () => {
    const err = await new Promise<Error | null>((resolve) => publicOnlyLookup('localhost', { all: true }, (e) => resolve(e)));
    expect(err).toBeInstanceOf(HousekeeperError);
    expect((err as HousekeeperError).kind).toBe('privateDestination');
    expect(err?.message).toMatch(/localhost resolves to .* not a public address/);
  });
});
