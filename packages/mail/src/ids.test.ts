import { describe, expect, it } from 'vitest';
import { MESSAGE_ID_RE, newMessageId } from './ids.ts';

describe('newMessageId (UUIDv7, RFC 9562 §5.7)', () => {
  it('is a version 7, variant 10 UUID whose first 48 bits are the time in milliseconds', () => {
    const before = Date.now();
    const id = newMessageId();
    const after = Date.now();
    expect(id).toMatch(MESSAGE_ID_RE);
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });

  it('ids of one process are unique and sort in the order they were made, across many pool refills', () => {
    const ids = Array.from({ length: 20_000 }, () => newMessageId());
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!, `${ids[i - 1]} then ${ids[i]}`).toBe(true);
    for (const id of ids) expect(id).toMatch(MESSAGE_ID_RE);
    // The random tail differs from id to id (the pool hands out fresh octets).
    expect(new Set(ids.map((id) => id.slice(-12))).size).toBeGreaterThan(ids.length * 0.99);
  });
});
