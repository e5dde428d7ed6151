// SSRF protection (WEBHOOK_ALLOW_PRIVATE=false, the default): a webhook cannot be pointed at
// the server's own network, by a literal address (400 at registration) or by a name that
// resolves to one (refused on the connection; the receiver sees nothing).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordEvents } from '@hopmail/events';
import { waitFor } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApi, type TestApi } from '../test-support.ts';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ WEBHOOK_ALLOW_PRIVATE: 'false', WEBHOOK_RETRY_MIN_MS: '60000' });
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

  test('a name that resolves to loopback is refused on the connection: the delivery fails, the receiver sees nothing', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as AddressInfo).port;
      const w = await api.call('POST', '/v1/webhooks', { url: `http://localhost:${port}/hook`, events: ['message.received'] });
      expect(w.status).toBe(201);
      await recordEvents(api.db.pool, [{ type: 'received', messageId: '01900000-0000-7000-8000-0000000000cc', data: { sender: 'a@x.example', size: 1, tls: false } }]);
      const row = await waitFor(
        async () => {
          const d = await api.db.pool.query<{ attempts: number; last_error: string | null }>('SELECT attempts, last_error FROM webhook_deliveries WHERE webhook_id = $1', [w.json.id]);
          return d.rows[0]?.last_error ? d.rows[0] : undefined;
        },
        { what: 'a failed delivery attempt' },
      );
      expect(row.last_error).toMatch(/localhost resolves to .*, which is not a public address/);
      expect(hits).toBe(0);
    } finally {
      server.close();
    }
  });
});
