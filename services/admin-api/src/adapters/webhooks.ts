// Webhooks and their delivery log in PostgreSQL, as the API manages and shows them. The
// housekeeper's dispatcher creates, claims and updates the delivery rows.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from '@hopmail/db';

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
}
