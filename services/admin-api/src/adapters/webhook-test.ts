// "Send a test event": one signed POST of a `webhook.test` event to a webhook's URL, now, and
// what the receiver answered. It goes through the same poster as real deliveries (signature,
// public-address rule, no redirects) but is not a delivery: it neither counts as a failure
// nor re-enables anything.
import { randomUUID } from 'node:crypto';
import type { Pool } from '@hopmail/db';
import { postWebhookWith, sign, SIGNATURE_HEADER } from '@hopmail/events';

export const TEST_TIMEOUT_MS = 10_000;
const BODY_BYTES = 2000;

export interface WebhookTestResult {
  ok: boolean;
  status: number | null;
  error: string | null;
  ms: number;
  /** The start of the receiver's answer, as text. */
  body: string | null;
  eventId: string;
}

export class WebhookTester {
  private readonly pool: Pool;
  private readonly allowPrivate: boolean;
  constructor(pool: Pool, allowPrivate: boolean) {
    this.pool = pool;
    this.allowPrivate = allowPrivate;
  }

  /** null when the webhook does not exist. */
  async test(id: string): Promise<WebhookTestResult | null> {
    const r = await this.pool.query<{ url: string; secret: string }>('SELECT url, secret FROM webhooks WHERE id = $1', [id]);
    const w = r.rows[0];
    if (!w) return null;
    const eventId = `test-${randomUUID()}`;
    const body = JSON.stringify({ id: eventId, type: 'webhook.test', at: new Date().toISOString(), messageId: null, recipient: null, data: { note: 'a test event sent on request; no message is involved' } });
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    try {
      const res = await postWebhookWith(
        {
          url: w.url,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Hopmail-Webhooks/1',
            'hopmail-event-id': eventId,
            'hopmail-event-type': 'webhook.test',
            [SIGNATURE_HEADER]: sign(w.secret, body, Math.floor(Date.now() / 1000)),
          },
          body,
          timeoutMs: TEST_TIMEOUT_MS,
          allowPrivate: this.allowPrivate,
          readBodyBytes: BODY_BYTES,
        },
        { privateDestination: (m) => new Error(m), timeout: (m) => new Error(m) },
      );
      const ok = res.status >= 200 && res.status < 300;
      return { ok, status: res.status, error: ok ? null : `HTTP ${res.status}`, ms: ms(), body: res.body || null, eventId };
    } catch (err) {
      return { ok: false, status: null, error: String((err as Error).message || err).slice(0, 500), ms: ms(), body: null, eventId };
    }
  }
}
