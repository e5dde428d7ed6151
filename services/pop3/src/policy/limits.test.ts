import { describe, expect, it } from 'vitest';
import { admitConnection, loginAllowed, maildropLockKey, uidlFor } from './limits.ts';

describe('admitConnection', () => {
  const limits = { maxTotal: 3, maxPerIp: 2 };
  it.each([
    [{ total: 0, fromIp: 0 }, { admit: true }],
    [{ total: 2, fromIp: 1 }, { admit: true }],
    [{ total: 3, fromIp: 0 }, { admit: false, reason: 'server-full' }],
    [{ total: 2, fromIp: 2 }, { admit: false, reason: 'ip-full' }],
  ])('%o → %o', (open, verdict) => {
    expect(admitConnection(open, limits)).toEqual(verdict);
  });
});

describe('loginAllowed', () => {
  const limits = { maxPerAccount: 5, maxPerIp: 10 };
  it.each([
    [{ account: 0, ip: 0 }, true],
    [{ account: 4, ip: 9 }, true],
    [{ account: 5, ip: 0 }, false],
    [{ account: 0, ip: 10 }, false],
    [{ account: null, ip: null }, true],
    [{ account: null, ip: 10 }, false],
  ])('%o → %s', (failures, allowed) => {
    expect(loginAllowed(failures, limits)).toBe(allowed);
  });
});

describe('uidlFor', () => {
  const id = '0190d5a4-7b7e-7c1a-8f00-0123456789ab';
  it.each([
    ['abc', 'abc'],
    ['x'.repeat(70), 'x'.repeat(70)],
    ['x'.repeat(71), '0190d5a47b7e7c1a8f000123456789ab'],
    ['', '0190d5a47b7e7c1a8f000123456789ab'],
    ['has space', '0190d5a47b7e7c1a8f000123456789ab'],
    ['é', '0190d5a47b7e7c1a8f000123456789ab'],
  ])('%s → %s', (stored, expected) => {
    expect(uidlFor(stored, id)).toBe(expected);
  });
});

describe('maildropLockKey', () => {
  it('fits both halves in int4', () => {
    expect(maildropLockKey('1')).toEqual([0x706f7033, 1]);
    expect(maildropLockKey(String(2 ** 31))).toEqual([0x706f7033, -(2 ** 31)]);
    expect(maildropLockKey('9007199254740993')[1]).toBeGreaterThanOrEqual(-(2 ** 31));
  });
});
