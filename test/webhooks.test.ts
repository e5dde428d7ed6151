// Webhooks end to end: registered through admin-api; trace events → the housekeeper's outbox
// publisher → Redis stream → its consumer group → signed POSTs to receivers on 127.0.0.1;
// failing receivers are retried, then disabled, and never slow mail.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { streamKey } from '@hopmail/events';
import { waitFor } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { verify } from '../services/housekeeper/src/policy/webhook.ts';
import { startCluster, type Cluster } from './admin-cluster.ts';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

async function receiver(answer: (r: Received) => number | 'hang'): Promise<{ url: string; got: Received[]; server: Server }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      got.push(r);
      const a = answer(r);
      if (a === 'hang') return; // never answers: the dispatcher's timeout must cut it
      res.writeHead(a).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, server };
}

let c: Cluster;
let good: Awaited<ReturnType<typeof receiver>>;
let flaky: Awaited<ReturnType<typeof receiver>>;
let hanging: Awaited<ReturnType<typeof receiver>>;
let failing: Awaited<ReturnType<typeof receiver>>;
let flakyCalls = 0;

beforeAll(async () => {
  c = await startCluster({
    housekeeper: { WEBHOOK_TIMEOUT_MS: '300', WEBHOOK_RETRY_MIN_MS: '50', WEBHOOK_RETRY_MAX_MS: '200', WEBHOOK_MAX_ATTEMPTS: '5', WEBHOOK_DISABLE_AFTER: '4', WEBHOOK_CONCURRENCY: '4' },
  });
  await c.api.call('POST', '/v1/domains', { name: 'local.test' });
  for (const a of ['alice@local.test', 'bob@local.test']) await c.api.call('POST', '/v1/mailboxes', { address: a, password: 'password-1' });
  good = await receiver(() => 204);
  flaky = await receiver(() => (++flakyCalls <= 2 ? 503 : 200));
  hanging = await receiver(() => 'hang');
  failing = await receiver(() => 500);
});
afterAll(async () => {
  await c?.close();
  for (const r of [good, flaky, hanging, failing]) {
    r?.server.closeAllConnections();
    await new Promise<void>((res) => r?.server.close(() => res()));
  }
});

describe('webhooks', () => {
  test('managed through the API: the secret is shown once; bad URLs refused', async () => {
    const r = await c.api.call('POST', '/v1/webhooks', { url: good.url, events: ['message.received'], description: 'probe' });
    expect(r.status).toBe(201);
    expect(r.json.secret).toMatch(/^whsec_/);
    const shown = await c.api.call('GET', `/v1/webhooks/${r.json.id}`);
    expect(shown.json.secret).toBeUndefined();
    expect(shown.json).toMatchObject({ url: good.url, events: ['message.received'], enabled: true, failures: 0 });
    expect((await c.api.call('PATCH', `/v1/webhooks/${r.json.id}`, { events: ['message.bounced'] })).json.events).toEqual(['message.bounced']);
    expect((await c.api.call('DELETE', `/v1/webhooks/${r.json.id}`)).status).toBe(204);
    expect((await c.api.call('GET', `/v1/webhooks/${r.json.id}`)).status).toBe(404);
    for (const url of ['ftp://127.0.0.1/x', 'not a url', 'http://user:pw@127.0.0.1/']) expect((await c.api.call('POST', '/v1/webhooks', { url, events: ['message.received'] })).status).toBe(400);
    expect((await c.api.call('POST', '/v1/webhooks', { url: good.url, events: ['message.nope'] })).status).toBe(400);
  });

  test('a receiver gets signed message.received and message.delivered events; the stream has them too', async () => {
    const secret = 'test-secret-0123456789';
    const w = await c.api.call('POST', '/v1/webhooks', { url: good.url, events: ['message.received', 'message.delivered'], secret });
    expect(w.status).toBe(201);
    const id = await c.send('alice@local.test', ['bob@local.test']);
    const events = await waitFor(async () => {
      const mine = good.got.filter((r) => JSON.parse(r.body).messageId === id);
      return mine.length >= 2 ? mine : undefined;
    }, { what: 'two webhook calls' });
    const bodies = events.map((e) => JSON.parse(e.body));
    expect(bodies.map((b) => b.type).sort()).toEqual(['message.delivered', 'message.received']);
    for (const e of events) {
      expect(e.headers['content-type']).toBe('application/json');
      expect(e.headers['hopmail-event-type']).toBe(JSON.parse(e.body).type);
      expect(e.headers['hopmail-event-id']).toBe(JSON.parse(e.body).id);
      expect(verify(secret, e.body, String(e.headers['hopmail-signature']), Math.floor(Date.now() / 1000))).toBe(true);
      expect(verify('wrong-secret-0123456', e.body, String(e.headers['hopmail-signature']), Math.floor(Date.now() / 1000))).toBe(false);
    }
    expect(bodies.find((b) => b.type === 'message.delivered')).toMatchObject({ recipient: 'bob@local.test', data: { mailbox: 'bob@local.test', traceType: 'delivered-mailbox' } });
    expect(bodies.find((b) => b.type === 'message.received')).toMatchObject({ recipient: null, data: { sender: 'alice@local.test' } });
    // The same events are on the Redis stream for other consumers.
    const entries = (await c.api.redis.xrange(streamKey(c.api.prefix), '-', '+')) as [string, string[]][];
    const onStream = entries.map(([, f]) => JSON.parse(f[f.indexOf('event') + 1]!)).filter((e) => e.messageId === id);
    expect(onStream.map((e) => e.type).sort()).toEqual(['message.delivered', 'message.received']);
    // The receiver has the request before the sender has its answer and records the delivery.
    const delivered = await waitFor(async () => {
      const d = await c.api.call('GET', `/v1/webhooks/${w.json.id}/deliveries`);
      const n = d.json.items.filter((x: any) => x.status === 'delivered').length;
      return n >= 2 ? n : undefined;
    }, { what: 'both deliveries recorded as delivered' });
    expect(delivered).toBeGreaterThanOrEqual(2);
    await c.api.call('DELETE', `/v1/webhooks/${w.json.id}`);
  });

  test('a failed delivery is retried with backoff until the receiver answers 2xx', async () => {
    const w = (await c.api.call('POST', '/v1/webhooks', { url: flaky.url, events: ['message.received'] })).json;
    const id = await c.send('alice@local.test', ['bob@local.test']);
    const d = await waitFor(async () => {
      const items = (await c.api.call('GET', `/v1/webhooks/${w.id}/deliveries`)).json.items as any[];
      return items.find((x) => x.status === 'delivered') ;
    }, { what: 'flaky delivery done' });
    expect(d).toMatchObject({ attempts: 3, lastStatus: 200, eventType: 'message.received' });
    expect(flaky.got.filter((r) => JSON.parse(r.body).messageId === id)).toHaveLength(3);
    // The same event each time (receivers deduplicate on the id).
    expect(new Set(flaky.got.map((r) => r.headers['hopmail-event-id'])).size).toBe(1);
    expect((await c.api.call('GET', `/v1/webhooks/${w.id}`)).json).toMatchObject({ enabled: true, failures: 0, lastSuccessAt: expect.any(String) });
    await c.api.call('DELETE', `/v1/webhooks/${w.id}`);
  });

  test('failing and hanging webhooks are disabled after persistent failure and never slow mail', { timeout: 60_000 }, async () => {
    // Baseline: local delivery latency with no webhook at all.
    const latency = async (n: number) => {
      const t0 = Date.now();
      const ids = await Promise.all(Array.from({ length: n }, () => c.send('alice@local.test', ['bob@local.test'])));
      await waitFor(async () => {
        const r = await c.api.db.pool.query<{ n: number }>(`SELECT count(*)::int n FROM recipients WHERE message_id = ANY($1::uuid[]) AND status = 'delivered'`, [ids]);
        return r.rows[0]!.n === n;
      }, { intervalMs: 20 });
      return Date.now() - t0;
    };
    const base = await latency(20);
    const hang = (await c.api.call('POST', '/v1/webhooks', { url: hanging.url, events: ['message.received', 'message.delivered'] })).json;
    const fail = (await c.api.call('POST', '/v1/webhooks', { url: failing.url, events: ['message.received', 'message.delivered'] })).json;
    const withBad = await latency(20);
    // Mail does not wait for webhooks at all: same order of time (generous bound for a busy CI box).
    expect(withBad).toBeLessThan(Math.max(3 * base, base + 2000));
    const disabled = await waitFor(async () => {
      const a = (await c.api.call('GET', `/v1/webhooks/${hang.id}`)).json;
      const b = (await c.api.call('GET', `/v1/webhooks/${fail.id}`)).json;
      return !a.enabled && !b.enabled ? [a, b] : undefined;
    }, { timeoutMs: 30_000, what: 'both webhooks disabled' });
    expect(disabled[0]).toMatchObject({ enabled: false, disabledReason: 'disabled after 4 consecutive failures', lastError: 'timeout after 300 ms' });
    expect(disabled[1]).toMatchObject({ enabled: false, lastError: 'HTTP 500' });
    expect(c.housekeeper!.logText()).toMatch(/"event":"housekeeper.webhook-disabled"/);
    // Disabled means no more calls.
    const calls = failing.got.length;
    await c.send('alice@local.test', ['bob@local.test']);
    await new Promise((r) => setTimeout(r, 500));
    expect(failing.got.length).toBe(calls);
    // Re-enabling resets the count.
    expect((await c.api.call('PATCH', `/v1/webhooks/${fail.id}`, { enabled: true })).json).toMatchObject({ enabled: true, failures: 0, disabledReason: null });
  });
});
