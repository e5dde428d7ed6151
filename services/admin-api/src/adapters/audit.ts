// The audit log: one row per change made through the API (and per refused attempt to make
// one), written before the response leaves, read back newest first.
import type { Pool } from '@hopmail/db';

export interface AuditEntry {
  id: number;
  at: Date;
  actor: string;
  keyId: string | null;
  action: string;
  target: string | null;
  status: number;
  requestId: string | null;
  remoteIp: string | null;
  details: Record<string, unknown>;
}

export interface AuditFilter {
  actor?: string | undefined;
  action?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

const COLS = `id, at, actor, key_id AS "keyId", action, target, status, request_id AS "requestId", remote_ip AS "remoteIp", details`;

export class AuditStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  async write(e: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
    await this.pool.query(
      'INSERT INTO audit_log (actor, key_id, action, target, status, request_id, remote_ip, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      [e.actor, e.keyId, e.action, e.target, e.status, e.requestId, e.remoteIp, JSON.stringify(e.details)],
    );
  }

  /** Newest first; the cursor is the last id seen. */
  async list(f: AuditFilter & { limit: number; after: string | null }): Promise<{ items: AuditEntry[]; nextKey: string | null }> {
    const r = await this.pool.query<AuditEntry>(
      `SELECT ${COLS} FROM audit_log
        WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR actor = $2) AND ($3::text IS NULL OR action = $3)
          AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
        ORDER BY id DESC LIMIT $6`,
      [f.after, f.actor ?? null, f.action ?? null, f.since ?? null, f.until ?? null, f.limit + 1],
    );
    const more = r.rows.length > f.limit;
    const items = r.rows.slice(0, f.limit).map((x) => ({ ...x, id: Number(x.id) }));
    return { items, nextKey: more ? String(items.at(-1)!.id) : null };
  }
}
