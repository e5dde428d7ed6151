// The delivery side of webhooks in PostgreSQL. A delivery row per (webhook, event) is the
// retry state: created idempotently from the event stream, claimed with a lease
// (next_attempt_at pushed ahead) under SKIP LOCKED, so any number of replicas share the work
// and a crashed one's claims come back after the lease. admin-api manages the webhooks
// themselves and lists these rows.
import type { Pool } from '@hopmail/db';
import type { PublicEvent } from '@hopmail/events';

export interface ClaimedDelivery {
  id: number;
  webhookId: string;
  url: string;
  secret: string;
  attempts: number;
  payload: PublicEvent;
}

export class DeliveryStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** One delivery row per enabled webhook subscribed to each event; returns rows created. */
  async fanOut(events: readonly PublicEvent[]): Promise<number> {
    if (!events.length) return 0;
    const r = await this.pool.query(
      `INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, payload)
       SELECT w.id, e.id, e.type, e.payload
         FROM unnest($1::bigint[], $2::text[], $3::jsonb[], $4::timestamptz[]) AS e(id, type, payload, at)
         JOIN webhooks w ON w.enabled AND e.type = ANY(w.event_types) AND w.created_at <= e.at
       ON CONFLICT (webhook_id, event_id) DO NOTHING`,
      [events.map((e) => e.id), events.map((e) => e.type), events.map((e) => JSON.stringify(e)), events.map((e) => e.at)],
    );
    return r.rowCount ?? 0;
  }

  /** Claims up to `n` due deliveries, leasing each for `leaseMs`. */
  async claim(n: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const r = await this.pool.query<ClaimedDelivery>(
      `WITH s AS (
         SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
          WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND w.enabled
          ORDER BY d.next_attempt_at, d.id LIMIT $1 FOR UPDATE OF d SKIP LOCKED)
       UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
         FROM s, webhooks w WHERE d.id = s.id AND w.id = d.webhook_id
       RETURNING d.id, d.webhook_id AS "webhookId", w.url, w.secret, d.attempts, d.payload`,
      [n, leaseMs],
    );
    return r.rows.map((x) => ({ ...x, id: Number(x.id) }));
  }

  async succeeded(d: ClaimedDelivery, httpStatus: number): Promise<void> {
    await this.pool.query(
      `WITH d AS (UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_status = $2, last_error = NULL WHERE id = $1)
       UPDATE webhooks SET failures = 0, last_success_at = now() WHERE id = $3`,
      [d.id, httpStatus, d.webhookId],
    );
  }

  /** Records a failed try; returns whether the webhook got disabled by it. */
  async failed(d: ClaimedDelivery, o: { httpStatus: number | null; error: string; retryInMs: number | null; disableAfter: number }): Promise<boolean> {
    const r = await this.pool.query<{ enabled: boolean }>(
      `WITH d AS (
         UPDATE webhook_deliveries SET last_status = $2, last_error = $3,
                status = CASE WHEN $4::float8 IS NULL THEN 'failed' ELSE 'pending' END,
                next_attempt_at = CASE WHEN $4::float8 IS NULL THEN next_attempt_at ELSE now() + make_interval(secs => $4::float8 / 1000) END
          WHERE id = $1)
       UPDATE webhooks SET failures = failures + 1, last_failure_at = now(), last_error = $3,
              enabled = CASE WHEN failures + 1 >= $6 THEN false ELSE enabled END,
              disabled_reason = CASE WHEN enabled AND failures + 1 >= $6 THEN 'disabled after ' || (failures + 1) || ' consecutive failures' ELSE disabled_reason END
        WHERE id = $5 RETURNING enabled`,
      [d.id, o.httpStatus, o.error.slice(0, 500), o.retryInMs, d.webhookId, o.disableAfter],
    );
    return r.rows[0]?.enabled === false;
  }
}
