// SSRF protection at registration (WEBHOOK_ALLOW_PRIVATE=false, the default): a webhook
// cannot be pointed at the server's own network by a literal address (400). A name that
// resolves to one is refused when the housekeeper connects (its webhook-ssrf.test.ts).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi({ WEBHOOK_ALLOW_PRIVATE: 'false' });
});
afterAll(async () => {
  await api?.close();
});

describe('webhook destinations', () => {
  test.each(['http://127.0.0.1:8080/hook', 'http://[::1]/hook', 'http://169.254.169.254/latest/meta-data', 'https://10.0.0.7/x', 'http://192.168.1.1/', 'http://[::ffff:127.0.0.1]/'])(
    '%s is refused at registration (400)',
    async (url) => {
      const r = await api.call('POST', '/v1/webhooks', { url, events: ['message.received'] });
      expect(r.status).toBe(400);
      expect(r.json.error.message).toMatch(/not a public address; set WEBHOOK_ALLOW_PRIVATE=true/);
    },
  );

  test('a public address is accepted; PATCH to a private one is refused', async () => {
    const r = await api.call('POST', '/v1/webhooks', { url: 'https://203.0.114.9/hook', events: ['message.bounced'] });
    expect(r.status).toBe(201);
    const p = await api.call('PATCH', `/v1/webhooks/${r.json.id}`, { url: 'http://127.0.0.1/hook' });
    expect(p.status).toBe(400);
    // Deleted at once: no event may ever be sent off this machine.
    expect((await api.call('DELETE', `/v1/webhooks/${r.json.id}`)).status).toBe(204);
  });
});
