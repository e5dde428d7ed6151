// The operator's allowlist and blocklist (migration 0020) as admin-api manages them, and the
// attempts smtp-ingress refused or greylisted (smtp_refusals). smtp-ingress reads the lists
// itself (every replica, refreshed within ABUSE_LISTS_REFRESH_MS).
import type { Pool } from '@hopmail/db';

export interface ListEntryRow {
  id: number;
  list: 'allow' | 'block';
  kind: 'network' | 'domain';
  value: string;
  reason: string;
  createdAt: Date;
  createdBy: string | null;
}

export interface RefusalRow {
  id: number;
  at: Date;
  sessionId: string;
  clientIp: string;
  helo: string | null;
  sender: string;
  recipient: string;
  stage: string;
  reason: string;
  reply: string;
}

const COLS = `id::int, list, CASE WHEN network IS NULL THEN 'domain' ELSE 'network' END AS kind, coalesce(network::text, domain) AS value,
  reason, created_at AS "createdAt", created_by AS "createdBy"`;
const RCOLS = `id::int, at, session_id AS "sessionId", host(client_ip) AS "clientIp", helo, sender, recipient, stage, reason, reply`;

export class AbuseListStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** Oldest first; `after`: the id of the last row of the previous page. */
  async list(list: 'allow' | 'block' | undefined, page: { limit: number; after: number | null }): Promise<{ items: ListEntryRow[]; nextKey: string | null }> {
    const r = await this.pool.query<ListEntryRow>(
      `SELECT ${COLS} FROM abuse_list_entries WHERE ($1::text IS NULL OR list = $1) AND id > $2 ORDER BY id LIMIT $3`,
      [list ?? null, page.after ?? 0, page.limit + 1],
    );
    const more = r.rows.length > page.limit;
    const items = more ? r.rows.slice(0, page.limit) : r.rows;
    return { items, nextKey: more ? String(items[items.length - 1]!.id) : null };
  }

  /** Throws PostgreSQL's unique violation when the network or domain is already listed. */
  async add(e: { list: 'allow' | 'block'; network: string | null; domain: string | null; reason: string; createdBy: string }): Promise<ListEntryRow> {
    const r = await this.pool.query<ListEntryRow>(
      `INSERT INTO abuse_list_entries (list, network, domain, reason, created_by) VALUES ($1, $2::cidr, $3, $4, $5) RETURNING ${COLS}`,
      [e.list, e.network, e.domain, e.reason, e.createdBy],
    );
    return r.rows[0]!;
  }

  /** The entry already covering exactly this network or domain, if any. */
  async find(network: string | null, domain: string | null): Promise<ListEntryRow | null> {
    const r = await this.pool.query<ListEntryRow>(`SELECT ${COLS} FROM abuse_list_entries WHERE network = $1::cidr OR domain = $2`, [network, domain]);
    return r.rows[0] ?? null;
  }

  async remove(id: number): Promise<ListEntryRow | null> {
    const r = await this.pool.query<ListEntryRow>(`DELETE FROM abuse_list_entries WHERE id = $1 RETURNING ${COLS}`, [id]);
    return r.rows[0] ?? null;
  }

  /** Refused attempts, newest first; `before`: the id of the last row of the previous page. */
  async refusals(f: { recipient?: string; sender?: string; clientIp?: string; since?: string }, page: { limit: number; before: number | null }): Promise<{ items: RefusalRow[]; nextKey: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (f.recipient !== undefined) add('lower(recipient) = lower(?)', f.recipient);
    if (f.sender !== undefined) add('lower(sender) = lower(?)', f.sender === '<>' ? '' : f.sender);
    if (f.clientIp !== undefined) add('client_ip = ?::inet', f.clientIp);
    if (f.since !== undefined) add('at >= ?::timestamptz', f.since);
    if (page.before !== null) add('id < ?', page.before);
    params.push(page.limit + 1);
    const r = await this.pool.query<RefusalRow>(`SELECT ${RCOLS} FROM smtp_refusals ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`, params);
    const more = r.rows.length > page.limit;
    const items = more ? r.rows.slice(0, page.limit) : r.rows;
    return { items, nextKey: more ? String(items[items.length - 1]!.id) : null };
  }
}
