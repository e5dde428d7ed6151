import { describe, expect, test } from 'vitest';
import { coversDomain, domainLimit, permits, type Access, type Principal } from './scope.ts';

const admin: Principal = { actor: 'bootstrap', keyId: null, scope: 'admin', domains: [] };
const ro: Principal = { actor: 'key:1', keyId: '1', scope: 'read-only', domains: [] };
const da: Principal = { actor: 'key:2', keyId: '2', scope: 'domain-admin', domains: ['a.example'] };

describe('permits', () => {
  test.each<[Principal, Access, boolean]>([
    [admin, 'read', true], [admin, 'read-global', true], [admin, 'write', true], [admin, 'admin', true],
    [ro, 'read', true], [ro, 'read-global', true], [ro, 'write', false], [ro, 'admin', false],
    [da, 'read', true], [da, 'read-global', false], [da, 'write', true], [da, 'admin', false],
  ])('%j %s → %s', (p, access, want) => {
    expect(permits(p, access)).toBe(want);
  });
});

test('domain-admin covers only its domains, case-insensitively', () => {
  expect(coversDomain(da, 'A.example')).toBe(true);
  expect(coversDomain(da, 'b.example')).toBe(false);
  expect(coversDomain(admin, 'b.example')).toBe(true);
  expect(domainLimit(da)).toEqual(['a.example']);
  expect(domainLimit(ro)).toBeNull();
});
