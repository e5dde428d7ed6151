// Webhooks and their deliveries in PostgreSQL. A delivery row per (webhook, event) is the
// retry state: claimed with a lease (next_attempt_at pushed ahead) under SKIP LOCKED, so any
// number of replicas share the work and a crashed one's claims come back after the lease.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from '@hopmail/db';
import type { PublicEvent } from '@hopmail/events';

export interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  description: string;
  enabled: boolean;
  disabledReason: string | null;
  failures: number;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface DeliveryRow {
  id: number;
  webhookId: string;
  eventId: string;
  eventType: string;
  status: string;
  attempts: number;
  nextAttemptAt: Date | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

export interface ClaimedDelivery {
  id: number;
  webhookId: string;
  url: string;
  secret: string;
  attempts: number;
  payload: PublicEvent;
}

const COLS = `id, url, event_types AS events, description, enabled, disabled_reason AS "disabledReason", failures,
  last_success_at AS "lastSuccessAt", last_failure_at AS "lastFailureAt", last_error AS "lastError", created_at AS "createdAt", updated_at AS "updatedAt"`;
const DCOLS = `id, webhook_id AS "webhookId", event_id::text AS "eventId", event_type AS "eventType", status, attempts,
  CASE WHEN status = 'pending' THEN next_attempt_at END AS "nextAttemptAt", last_status AS "lastStatus", last_error AS "lastError",
  created_at AS "createdAt", delivered_at AS "deliveredAt"`;

export const newSecret = () => 'whsec_' + randomBytes(24).toString('base64url');

export class WebhookStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  async create(w: { url: string; events: string[]; secret: string; description: string }): Promise<WebhookRow> {
    const r = await this.pool.query<WebhookRow>(
      `INSERT INTO webhooks (id, url, secret, event_types, description) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLS}`,
      [randomUUID(), w.url, w.secret, w.events, w.description],
    );
    return r.rows[0]!;
  }

  async get(id: string): Promise<WebhookRow | null> {
    const r = await this.pool.query<WebhookRow>(`SELECT ${COLS} FROM webhooks WHERE id = $1`, [id]);
    return r.rows[0] ?? null;
  }

  async list(o: { limit: number; after: string | null }): Promise<{ items: WebhookRow[]; nextKey: string | null }> {
    const r = await this.pool.query<WebhookRow>(`SELECT ${COLS} FROM webhooks WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2`, [o.after, o.limit + 1]);
    const more = r.rows.length > o.limit;
    const items = r.rows.slice(0, o.limit);
    return { items, nextKey: more ? items.at(-1)!.id : null };
  }

  async update(id: string, c: { url?: string | undefined; events?: string[] | undefined; description?: string | undefined; enabled?: boolean | undefined; secret?: string | undefined }): Promise<WebhookRow | null> {
    const r = await this.pool.query<WebhookRow>(
      `UPDATE webhooks SET url = coalesce($2, url), event_types = coalesce($3, event_types), description = coalesce($4, description),
              secret = coalesce($6, secret),
              enabled = coalesce($5, enabled),
              -- re-enabling starts the failure count afresh
              failures = CASE WHEN $5 IS TRUE THEN 0 ELSE failures END,
              disabled_reason = CASE WHEN $5 IS TRUE THEN NULL WHEN $5 IS FALSE THEN 'disabled by an administrator' ELSE disabled_reason END,
              updated_at = now()
        WHERE id = $1 RETURNING ${COLS}`,
      [id, c.url ?? null, c.events ?? null, c.description ?? null, c.enabled ?? null, c.secret ?? null],
    );
    return r.rows[0] ?? null;
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM webhooks WHERE id = $1', [id]);
    return (r.rowCount ?? 0) > 0;
  }

  async deliveries(webhookId: string, o: { limit: number; after: string | null }): Promise<{ items: DeliveryRow[]; nextKey: string | null }> {
    const r = await this.pool.query<DeliveryRow>(
      `SELECT ${DCOLS} FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
      [webhookId, o.after, o.limit + 1],
    );
    const more = r.rows.length > o.limit;
    const items = r.rows.slice(0, o.limit).map((x) => ({ ...x, id: Number(x.id) }));
    return { items, nextKey: more ? String(items.at(-1)!.id) : null };
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
