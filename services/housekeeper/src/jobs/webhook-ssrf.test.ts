// SSRF protection on the connection (WEBHOOK_ALLOW_PRIVATE=false, the default): a webhook
// whose name resolves to the server's own network is refused when the dispatcher connects,
// so the receiver sees nothing. (Literal addresses are refused at registration: admin-api.)
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordEvents } from '@hopmail/events';
import { waitFor } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestHousekeeper, type TestHousekeeper } from '../../test/support.ts';

let hk: TestHousekeeper;
beforeAll(async () => {
  hk = await startTestHousekeeper({ env: { WEBHOOK_ALLOW_PRIVATE: 'false', WEBHOOK_RETRY_MIN_MS: '60000' } });
});
afterAll(async () => {
  await hk?.close();
});

describe('webhook destinations', () => {
  test('a name that resolves to loopback is refused on the connection: the delivery fails, the receiver sees nothing', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(204).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (server.address() as AddressInfo).port;
      // Registered as admin-api would (a name is only checked when connecting).
      const id = randomUUID();
      await hk.db.pool.query(`INSERT INTO webhooks (id, url, secret, event_types, description) VALUES ($1, $2, 'test-secret-0123456789', '{message.received}', '')`, [id, `http://localhost:${port}/hook`]);
      await recordEvents(hk.db.pool, [{ type: 'received', messageId: '01900000-0000-7000-8000-0000000000cc', data: { sender: 'a@x.example', size: 1, tls: false } }]);
      const row = await waitFor(
        async () => {
          const d = await hk.db.pool.query<{ attempts: number; last_error: string | null }>('SELECT attempts, last_error FROM webhook_deliveries WHERE webhook_id = $1', [id]);
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
