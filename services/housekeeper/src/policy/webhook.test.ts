import { expect, test } from 'vitest';
import { retryDelay, sign, verify } from './webhook.ts';

test('signature: known vector and verification', () => {
  const h = sign('s3cret', '{"a":1}', 1700000000);
  expect(h).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
  expect(verify('s3cret', '{"a":1}', h, 1700000100)).toBe(true);
  expect(verify('s3cret', '{"a":2}', h, 1700000100)).toBe(false);
  expect(verify('other', '{"a":1}', h, 1700000100)).toBe(false);
  expect(verify('s3cret', '{"a":1}', h, 1700001000)).toBe(false); // too old
  expect(verify('s3cret', '{"a":1}', 'garbage', 1700000000)).toBe(false);
});

test('retry delays double up to the cap and stop after maxAttempts', () => {
  const o = { minMs: 1000, maxMs: 5000, maxAttempts: 5 };
  expect([1, 2, 3, 4, 5].map((a) => retryDelay(a, o))).toEqual([1000, 2000, 4000, 5000, null]);
});
