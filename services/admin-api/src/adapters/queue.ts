// Queue control over PostgreSQL, the system of record: list recipients waiting or failed,
// and change them in bulk (retry now, hold, release, delete). Bulk changes walk the matching
// rows by id in batches, each batch one transaction that also appends the admin-action
// events; rows not in an actionable state are left alone, so repeating an action is harmless.
import { withTransaction, type Pool } from '@hopmail/db';
import { recordEvents, type MessageEvent } from '@hopmail/events';
import { whereClause, type QueueFilter } from '../policy/queue-filter.ts';

export interface QueueRecipient {
  id: number;
  messageId: string;
  address: string;
  domain: string;
  status: string;
  attempts: number;
  nextAttemptAt: Date | null;
  lastReply: string | null;
  lastMx: string | null;
  sender: string;
  receivedAt: Date;
  size: number;
  updatedAt: Date;
}

export type QueueAction = 'retry' | 'hold' | 'release' | 'delete';

export interface ActionResult {
  /** Rows matching the filter that were looked at. */
  matched: number;
  /** Rows this call changed. */
  changed: number;
  /** (message, domain) pairs that need a deliver-remote job now. */
  wake: { messageId: string; domain: string }[];
  /** Messages with released rows back in 'queued' (never routed): they need a route-message job. */
  route: string[];
  /** Last recipient id looked at, when the batch limit stopped the walk. */
  nextKey: string | null;
}

interface ChangedRow {
  id: string;
  message_id: string;
  domain: string;
  address: string;
  /** The status the action set. */
  status: string;
}

/** Statuses each action applies to, and what it sets. */
const FROM: Record<QueueAction, readonly string[]> = {
  retry: ['relay', 'deferred'],
  hold: ['relay', 'deferred'],
  release: ['held'],
  delete: ['queued', 'relay', 'deferred', 'held'],
};

const COLS = `r.id, r.message_id AS "messageId", r.address, r.domain, r.status, r.attempts, r.next_attempt_at AS "nextAttemptAt",
  r.last_reply AS "lastReply", r.last_mx AS "lastMx", m.mail_from AS sender, m.received_at AS "receivedAt", m.size, r.updated_at AS "updatedAt"`;

export class QueueStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  async list(f: QueueFilter, limitDomains: readonly string[] | null, o: { limit: number; after: string | null }): Promise<{ items: QueueRecipient[]; nextKey: string | null }> {
    const params: unknown[] = [];
    const where = whereClause(f, limitDomains, params);
    params.push(o.after, o.limit + 1);
    const r = await this.pool.query<QueueRecipient>(
      `SELECT ${COLS} FROM recipients r JOIN messages m ON m.id = r.message_id
        WHERE ${where} AND ($${params.length - 1}::bigint IS NULL OR r.id > $${params.length - 1}) ORDER BY r.id LIMIT $${params.length}`,
      params,
    );
    const more = r.rows.length > o.limit;
    const items = r.rows.slice(0, o.limit).map((x) => ({ ...x, id: Number(x.id) }));
    return { items, nextKey: more ? String(items.at(-1)!.id) : null };
  }

  async count(f: QueueFilter, limitDomains: readonly string[] | null): Promise<number> {
    const params: unknown[] = [];
    const where = whereClause(f, limitDomains, params);
    const r = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM recipients r JOIN messages m ON m.id = r.message_id WHERE ${where}`, params);
    return Number(r.rows[0]!.n);
  }

  /**
   * Applies `action` to matching rows in batches of `batch`, starting after `after`, stopping
   * after `maxRows` rows (null: until done); each batch is one transaction.
   */
  async apply(
    action: QueueAction,
    f: QueueFilter,
    limitDomains: readonly string[] | null,
    o: { actor: string; dsn: boolean; batch: number; after: string | null; maxRows: number | null },
  ): Promise<ActionResult> {
    const out: ActionResult = { matched: 0, changed: 0, wake: [], route: [], nextKey: null };
    const wake = new Set<string>();
    const route = new Set<string>();
    let after = o.after;
    for (;;) {
      const want = o.maxRows === null ? o.batch : Math.min(o.batch, o.maxRows - out.matched);
      if (want <= 0) {
        out.nextKey = after;
        break;
      }
      const b = await this.batch(action, f, limitDomains, { ...o, after, limit: want });
      out.matched += b.scanned;
      out.changed += b.changed.length;
      for (const c of b.changed) {
        if (c.status === 'queued') route.add(c.message_id);
        else if (action === 'retry' || action === 'release') wake.add(`${c.message_id}\n${c.domain.toLowerCase()}`);
      }
      if (b.scanned < want) break;
      after = b.last;
    }
    out.wake = [...wake].map((k) => {
      const [messageId, domain] = k.split('\n') as [string, string];
      return { messageId, domain };
    });
    out.route = [...route];
    return out;
  }

  private async batch(
    action: QueueAction,
    f: QueueFilter,
    limitDomains: readonly string[] | null,
    o: { actor: string; dsn: boolean; after: string | null; limit: number },
  ): Promise<{ scanned: number; last: string | null; changed: ChangedRow[] }> {
    const params: unknown[] = [];
    const where = whereClause({ ...f, status: undefined }, limitDomains, params);
    // The status filter is intersected with what the action applies to.
    const statuses = f.status?.length ? FROM[action].filter((s) => f.status!.includes(s as never)) : FROM[action];
    params.push(statuses, o.after, o.limit);
    const n = params.length;
    return withTransaction(this.pool, async (client) => {
      await client.query(`SELECT set_config('hopmail.actor', $1, true)`, [o.actor]);
      const sel = await client.query<{ id: string; message_id: string; address: string }>(
        `SELECT r.id, r.message_id, r.address FROM recipients r JOIN messages m ON m.id = r.message_id
          WHERE ${where} AND r.status = ANY($${n - 2}::text[]) AND ($${n - 1}::bigint IS NULL OR r.id > $${n - 1})
          ORDER BY r.id LIMIT $${n} FOR UPDATE OF r`,
        params,
      );
      const ids = sel.rows.map((x) => x.id);
      let changed: ChangedRow[] = [];
      if (ids.length) {
        const set =
          action === 'retry'
            ? `next_attempt_at = now()`
            : action === 'hold'
              ? `status = 'held'`
              : action === 'release'
                ? // A row held at submission (outgoing spam, packages/db insertMessage's held) was
                  // never routed: it has no next attempt (routing gives every relay row one, and
                  // hold keeps it). It goes back to 'queued' for routing, which delivers local
                  // recipients to their mailbox; routed rows go back to the relay.
                  `status = CASE WHEN next_attempt_at IS NULL THEN 'queued' WHEN attempts = 0 THEN 'relay' ELSE 'deferred' END,
                   next_attempt_at = CASE WHEN next_attempt_at IS NULL THEN NULL ELSE now() END`
                : o.dsn
                  ? `status = 'bounced', next_attempt_at = NULL, dsn_sent_at = NULL, last_reply = '550 5.7.0 Deleted from the queue by an administrator'`
                  : `status = 'failed', next_attempt_at = NULL, last_reply = '550 5.7.0 Deleted from the queue by an administrator (no DSN)'`;
        // The selected rows are locked and in a state the action applies to, so every one of
        // them changes. Their admin-action events go in first so that they sort before the
        // events the status change itself triggers (bounced, …). A deleted 'queued' row is no
        // longer 'queued', so routing skips it.
        const events: MessageEvent[] = sel.rows.map((c) => ({
          type: 'admin-action',
          messageId: c.message_id,
          recipient: c.address,
          service: 'admin-api',
          actor: o.actor,
          data: { action: action === 'delete' ? (o.dsn ? 'delete-with-dsn' : 'delete') : action },
        }));
        await recordEvents(client, events);
        const u = await client.query<ChangedRow>(
          `UPDATE recipients SET ${set}, updated_at = now() WHERE id = ANY($1::bigint[]) AND status = ANY($2::text[]) RETURNING id, message_id, domain, address, status`,
          [ids, statuses],
        );
        changed = u.rows;
      }
      return { scanned: ids.length, last: ids.length ? String(ids.at(-1)) : o.after, changed };
    });
  }

  /** Waiting work per destination domain (relay, deferred, held), paged by domain. */
  async domains(limitDomains: readonly string[] | null, o: { limit: number; after: string | null }) {
    const r = await this.pool.query<{ domain: string; relay: string; deferred: string; held: string; oldest: Date; nextAttemptAt: Date | null }>(
      `SELECT lower(r.domain) AS domain,
              count(*) FILTER (WHERE r.status = 'relay') AS relay,
              count(*) FILTER (WHERE r.status = 'deferred') AS deferred,
              count(*) FILTER (WHERE r.status = 'held') AS held,
              min(m.received_at) AS oldest,
              min(r.next_attempt_at) FILTER (WHERE r.status IN ('relay', 'deferred')) AS "nextAttemptAt"
         FROM recipients r JOIN messages m ON m.id = r.message_id
        WHERE r.status IN ('relay', 'deferred', 'held')
          AND ($1::text IS NULL OR lower(r.domain) > $1)
          AND ($3::text[] IS NULL OR lower(r.domain) = ANY($3::text[]))
        GROUP BY lower(r.domain) ORDER BY lower(r.domain) LIMIT $2`,
      [o.after, o.limit + 1, limitDomains],
    );
    const more = r.rows.length > o.limit;
    const now = Date.now();
    const items = r.rows.slice(0, o.limit).map((x) => ({
      domain: x.domain,
      relay: Number(x.relay),
      deferred: Number(x.deferred),
      held: Number(x.held),
      oldestAgeSeconds: Math.max(0, Math.round((now - x.oldest.getTime()) / 1000)),
      nextAttemptAt: x.nextAttemptAt,
    }));
    return { items, nextKey: more ? items.at(-1)!.domain : null };
  }

  /** Unfinished recipients in PostgreSQL per status (what the queues should hold). */
  async totals(limitDomains: readonly string[] | null): Promise<Record<string, { count: number; oldestAgeSeconds: number }>> {
    const r = await this.pool.query<{ status: string; n: string; age: number | null }>(
      `SELECT r.status, count(*) AS n, extract(epoch FROM now() - min(m.received_at))::float8 AS age
         FROM recipients r JOIN messages m ON m.id = r.message_id
        WHERE r.status IN ('queued', 'relay', 'deferred', 'held') AND ($1::text[] IS NULL OR lower(r.domain) = ANY($1::text[]))
        GROUP BY r.status`,
      [limitDomains],
    );
    const out: Record<string, { count: number; oldestAgeSeconds: number }> = {};
    for (const s of ['queued', 'relay', 'deferred', 'held']) out[s] = { count: 0, oldestAgeSeconds: 0 };
    for (const x of r.rows) out[x.status] = { count: Number(x.n), oldestAgeSeconds: Math.max(0, Math.round(x.age ?? 0)) };
    return out;
  }
}
