// Message search and the per-message trace (message_events, written by the database
// triggers of 0005_operations.sql and by recordEvent() callers).
import { rollback, withTransaction, type Pool, type Queryable } from '@hopmail/db';

export interface MessageSummary {
  id: string;
  receivedAt: Date;
  sender: string;
  size: number;
  headerMessageId: string | null;
  clientIp: string | null;
  authUser: string | null;
  tls: boolean;
  /** rspamd's verdict at ingress (messages.spam), or null when no content filter ran. */
  spam: Record<string, unknown> | null;
  recipients: { address: string; status: string }[];
  /** What smtp-ingress's inbound checks found (SPF, DKIM, DMARC, ARC); null when not checked. */
  authResults: Record<string, unknown> | null;
}

/** Conditions of a message search; they combine (AND). */
export interface MessageQuery {
  queueId?: string | undefined;
  headerMessageId?: string | undefined;
  sender?: string | undefined;
  recipient?: string | undefined;
  status?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}

export interface TraceEvent {
  id: number;
  at: Date;
  type: string;
  recipient: string | null;
  service: string | null;
  actor: string | null;
  data: Record<string, unknown>;
}

const COLS = `m.id, m.received_at AS "receivedAt", m.mail_from AS sender, m.size, m.header_message_id AS "headerMessageId",
  m.client_ip AS "clientIp", m.auth_user AS "authUser", m.tls, m.auth_results AS "authResults", m.spam,
  (SELECT coalesce(json_agg(json_build_object('address', r.address, 'status', r.status) ORDER BY r.id), '[]') FROM recipients r WHERE r.message_id = m.id) AS recipients`;

/** `<id@host>` with or without the angle brackets. */
const bracketed = (s: string) => (s.startsWith('<') ? s : `<${s}>`);

/** Reads only: messages are written by smtp-ingress (its MessageStore) and the triggers. */
export class MessageSearch {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** Newest first, keyed by the time-ordered message id. */
  async search(s: MessageQuery, limitDomains: readonly string[] | null, o: { limit: number; after: string | null }): Promise<{ items: MessageSummary[]; nextKey: string | null }> {
    const r = await this.pool.query<MessageSummary>(
      `SELECT ${COLS} FROM messages m
        WHERE ($1::uuid IS NULL OR m.id = $1)
          AND ($2::text[] IS NULL OR m.header_message_id = ANY($2::text[]))
          AND ($3::text IS NULL OR lower(m.mail_from) = lower($3))
          AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND lower(r.address) = lower($4)))
          AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status = $5))
          AND ($6::timestamptz IS NULL OR m.received_at >= $6)
          AND ($7::timestamptz IS NULL OR m.received_at < $7)
          AND ($8::uuid IS NULL OR m.id < $8)
          AND ($10::text[] IS NULL OR EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND lower(r.domain) = ANY($10::text[])))
        ORDER BY m.id DESC LIMIT $9`,
      [
        s.queueId ?? null,
        s.headerMessageId === undefined ? null : [s.headerMessageId, bracketed(s.headerMessageId)],
        s.sender === undefined ? null : s.sender === '<>' ? '' : s.sender,
        s.recipient ?? null,
        s.status ?? null,
        s.since ?? null,
        s.until ?? null,
        o.after,
        o.limit + 1,
        limitDomains,
      ],
    );
    const more = r.rows.length > o.limit;
    const items = r.rows.slice(0, o.limit);
    return { items, nextKey: more ? items.at(-1)!.id : null };
  }

  async get(id: string, db: Queryable = this.pool): Promise<(MessageSummary & { domains: string[] }) | null> {
    const r = await db.query<MessageSummary & { domains: string[] }>(
      `SELECT ${COLS}, (SELECT coalesce(array_agg(DISTINCT lower(r.domain)), '{}') FROM recipients r WHERE r.message_id = m.id) AS domains
         FROM messages m WHERE m.id = $1`,
      [id],
    );
    return r.rows[0] ?? null;
  }

  /**
   * The message and its events in time order, read in one snapshot: the recipients' state and
   * the events that the same statements wrote agree (read one after the other, a recipient
   * could show `delivered` with its `routed` event missing). `after` is the last event id of
   * the previous page; null when the message does not exist.
   */
  async trace(id: string, o: { limit: number; after: string | null }): Promise<{ message: MessageSummary & { domains: string[] }; items: TraceEvent[]; nextKey: string | null } | null> {
    return withTransaction(this.pool, async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const message = await this.get(id, tx);
      return rollback(message && { message, ...(await this.events(tx, id, o)) });
    });
  }

  private async events(db: Queryable, id: string, o: { limit: number; after: string | null }): Promise<{ items: TraceEvent[]; nextKey: string | null }> {
    const r = await db.query<TraceEvent>(
      `SELECT id, at, type, recipient, service, actor, data FROM message_events
        WHERE message_id = $1 AND ($2::bigint IS NULL OR (at, id) > (SELECT at, id FROM message_events WHERE id = $2))
        ORDER BY at, id LIMIT $3`,
      [id, o.after, o.limit + 1],
    );
    const more = r.rows.length > o.limit;
    const items = r.rows.slice(0, o.limit).map((x) => ({ ...x, id: Number(x.id) }));
    return { items, nextKey: more ? String(items.at(-1)!.id) : null };
  }
}
