// Authentication failures are limited per client IP (Redis, shared by replicas).
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi({ ADMIN_AUTH_FAIL_LIMIT: '5', ADMIN_AUTH_FAIL_WINDOW_S: '60' });
});
afterAll(async () => {
  await api?.close();
});

test('after the limit of bad tokens, every request from that IP is 429 with Retry-After, even a good one', async () => {
  for (let i = 0; i < 5; i++) expect((await api.call('GET', '/v1/domains', undefined, { authorization: `Bearer wrong-${i}` })).status).toBe(401);
  const bad = await api.call('GET', '/v1/domains', undefined, { authorization: 'Bearer wrong-again' });
  expect(bad.status).toBe(429);
  expect(bad.json).toEqual({ error: { code: 'rate_limited', message: expect.stringMatching(/^too many failed authentications from this address; retry in \d+ s$/) } });
  expect(Number(bad.headers.get('retry-after'))).toBeGreaterThan(0);
  expect((await api.call('GET', '/v1/domains')).status).toBe(429);
  // Shared through Redis: the counter lives under this prefix, visible to every replica.
  expect(Number(await api.redis.get(`${api.prefix}:admin:authfail:127.0.0.1`))).toBe(5);
  await api.redis.del(`${api.prefix}:admin:authfail:127.0.0.1`);
  expect((await api.call('GET', '/v1/domains')).status).toBe(200);
  expect(api.logText()).toMatch(/"event":"admin-api.auth-rate-limited"/);
});

test('good requests are never counted', async () => {
  for (let i = 0; i < 10; i++) expect((await api.call('GET', '/v1/domains')).status).toBe(200);
  expect(await api.redis.get(`${api.prefix}:admin:authfail:127.0.0.1`)).toBeNull();
});
