// smtp-ingress counts its refusals in Redis; admin-api's GET /v1/abuse/stats sums them over the
// last hour and day (the key format is a contract between the two services).
import { redisPrefix } from '@hopmail/test-kit';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../services/admin-api/test/support.ts';
import { expectCode, SmtpClient, startIngress, type TestIngress } from '../services/smtp-ingress/test/helpers.ts';

let ingress: TestIngress;
let api: ApiHarness;
beforeAll(async () => {
  const prefix = redisPrefix();
  ingress = await startIngress({ prefix, env: { GREYLIST_ENABLED: 'true' } });
  api = await buildTestApi({ REDIS_PREFIX: prefix });
});
afterAll(async () => {
  await ingress?.stop();
  await api?.close();
});

test('refusals by stage and reason show in GET /v1/abuse/stats', async () => {
  expect((await api.call('GET', '/v1/abuse/stats', undefined)).json).toEqual({ lastHour: {}, lastDay: {} });
  const c = await SmtpClient.connect(ingress.port);
  expectCode(await c.cmd('EHLO client.test'), 250);
  expectCode(await c.cmd('MAIL FROM:<s@remote.test>'), 250);
  expect(await c.cmd('RCPT TO:<alice@example.org>')).toMatch(/^451 4\.7\.1 /);
  expect(await c.cmd('RCPT TO:<nobody@example.org>')).toMatch(/^550 5\.1\.1 /);
  expect(await c.cmd('RCPT TO:<nobody2@example.org>')).toMatch(/^550 5\.1\.1 /);
  c.close();
  await expect.poll(async () => (await api.call('GET', '/v1/abuse/stats', undefined)).json).toEqual({
    lastHour: { 'rcpt:greylisted': 1, 'rcpt:unknown-user': 2 },
    lastDay: { 'rcpt:greylisted': 1, 'rcpt:unknown-user': 2 },
  });
});
