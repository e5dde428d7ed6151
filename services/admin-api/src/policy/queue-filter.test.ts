import { expect, test } from 'vitest';
import { containsPattern, whereClause } from './queue-filter.ts';

test('no filter is true', () => {
  expect(whereClause({}, null, [])).toBe('true');
});

test('every filter is a parameter, in order', () => {
  const params: unknown[] = [];
  const w = whereClause({ status: ['deferred'], domain: 'x.example', sender: '@s.example', reply: '50%_x', minAgeSeconds: 60 }, ['x.example'], params);
  expect(w).toBe(
    "r.status = ANY($1::text[]) AND lower(r.domain) = lower($2) AND lower(m.mail_from) LIKE $3 AND m.received_at <= now() - make_interval(secs => $4::float8) AND r.last_reply ILIKE $5 AND lower(r.domain) = ANY($6::text[])",
  );
  expect(params).toEqual([['deferred'], 'x.example', '%@s.example', 60, '%50\\%\\_x%', ['x.example']]);
});

test('null sender', () => {
  expect(whereClause({ sender: '<>' }, null, [])).toBe("m.mail_from = ''");
});

test('LIKE metacharacters are literal', () => {
  expect(containsPattern('a\\b%c_d')).toBe('%a\\\\b\\%c\\_d%');
});
