// PostgreSQL access for domains, mailboxes and aliases. Every lookup compares lower()
// so it uses the unique indexes of 0001_core.sql; uniqueness itself is left to those
// indexes (23505), never to a check-then-insert race.
import { withTransaction, type Pool, type PoolClient } from '@hopmail/db';

export type DomainKind = 'local' | 'relay';

export interface DomainRow {
  name: string;
  kind: DomainKind;
  createdAt: Date;
  /** Inbound policy for mail to the domain (smtp-ingress); null follows the cluster default. */
  inboundDmarcEnforce: boolean | null;
  inboundSpfReject: boolean | null;
}

export interface InboundPolicyChange {
  inboundDmarcEnforce?: boolean | null | undefined;
  inboundSpfReject?: boolean | null | undefined;
}

export interface DomainDetail extends DomainRow {
  mailboxCount: number;
  aliasCount: number;
}

export interface MailboxRow {
  address: string;
  domain: string;
  quotaBytes: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface MailboxDetail extends MailboxRow {
  messageCount: number;
  sizeBytes: number;
}

export interface AliasRow {
  source: string;
  domain: string;
  targets: string[];
  createdAt: Date;
}

export interface Page<T> {
  items: T[];
  /** Sort key of the last item when more rows follow. */
  nextKey: string | null;
}

export interface ListOptions {
  limit: number;
  after: string | null;
  domain?: string | undefined;
  /** Only these (lower-case) domains: a domain-admin key's. */
  only?: readonly string[] | null | undefined;
}

function page<T>(rows: (T & { sortKey: string })[], limit: number): Page<T> {
  const more = rows.length > limit;
  const items = rows.slice(0, limit);
  const nextKey = more ? (items.at(-1)?.sortKey ?? null) : null;
  return { items: items.map(({ sortKey: _k, ...rest }) => rest as unknown as T), nextKey };
}

const DOMAIN_COLS = `d.name, d.kind, d.created_at AS "createdAt", d.inbound_dmarc_enforce AS "inboundDmarcEnforce", d.inbound_spf_reject AS "inboundSpfReject"`;
const MAILBOX_COLS = `m.address, d.name AS domain, m.quota_bytes AS "quotaBytes", m.created_at AS "createdAt", m.updated_at AS "updatedAt"`;
const ALIAS_COLS = `a.source, d.name AS domain, a.targets, a.created_at AS "createdAt"`;

export class Store {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  // ---- domains ----

  async createDomain(name: string, kind: DomainKind): Promise<DomainRow> {
    const r = await this.pool.query<DomainRow>(`INSERT INTO domains AS d (name, kind) VALUES ($1, $2) RETURNING ${DOMAIN_COLS}`, [name, kind]);
    return r.rows[0]!;
  }

  /** Sets the inbound policy fields given (null: back to the cluster default); null when the domain does not exist. */
  async updateDomainInbound(name: string, c: InboundPolicyChange): Promise<DomainRow | null> {
    const r = await this.pool.query<DomainRow>(
      `UPDATE domains AS d SET
         inbound_dmarc_enforce = CASE WHEN $2 THEN $3::boolean ELSE d.inbound_dmarc_enforce END,
         inbound_spf_reject = CASE WHEN $4 THEN $5::boolean ELSE d.inbound_spf_reject END
       WHERE lower(d.name) = lower($1) RETURNING ${DOMAIN_COLS}`,
      [name, c.inboundDmarcEnforce !== undefined, c.inboundDmarcEnforce ?? null, c.inboundSpfReject !== undefined, c.inboundSpfReject ?? null],
    );
    return r.rows[0] ?? null;
  }

  async findDomain(name: string): Promise<(DomainRow & { id: number }) | null> {
    const r = await this.pool.query<DomainRow & { id: number }>(`SELECT d.id, ${DOMAIN_COLS} FROM domains d WHERE lower(d.name) = lower($1)`, [name]);
    return r.rows[0] ?? null;
  }

  async getDomain(name: string): Promise<DomainDetail | null> {
    const r = await this.pool.query<DomainDetail>(
      `SELECT ${DOMAIN_COLS},
              (SELECT count(*) FROM mailboxes m WHERE m.domain_id = d.id) AS "mailboxCount",
              (SELECT count(*) FROM aliases a WHERE a.domain_id = d.id) AS "aliasCount"
         FROM domains d WHERE lower(d.name) = lower($1)`,
      [name],
    );
    return r.rows[0] ?? null;
  }

  async listDomains(o: ListOptions): Promise<Page<DomainRow>> {
    const r = await this.pool.query<DomainRow & { sortKey: string }>(
      `SELECT ${DOMAIN_COLS}, lower(d.name) AS "sortKey" FROM domains d
        WHERE ($1::text IS NULL OR lower(d.name) > $1)
          AND ($3::text[] IS NULL OR lower(d.name) = ANY($3::text[]))
        ORDER BY lower(d.name) LIMIT $2`,
      [o.after, o.limit + 1, o.only ?? null],
    );
    return page(r.rows, o.limit);
  }

  /**
   * Deletes a domain. Without `cascade`, refuses while mailboxes or aliases remain. The
   * domain row is locked first: a concurrent mailbox insert needs a KEY SHARE lock on it
   * (foreign key), so nothing can slip in between the count and the delete.
   */
  async deleteDomain(name: string, cascade: boolean, actor: string): Promise<'deleted' | 'missing' | { mailboxes: number; aliases: number }> {
    return withTransaction(this.pool, async (c: PoolClient) => {
      // Cascaded mailbox_messages deletions are traced as this admin's action, not as POP3's.
      await c.query(`SELECT set_config('hopmail.actor', $1, true)`, [actor]);
      const d = await c.query<{ id: number }>('SELECT id FROM domains WHERE lower(name) = lower($1) FOR UPDATE', [name]);
      const id = d.rows[0]?.id;
      if (id === undefined) return 'missing';
      if (!cascade) {
        const n = await c.query<{ mailboxes: number; aliases: number }>(
          `SELECT (SELECT count(*) FROM mailboxes WHERE domain_id = $1) AS mailboxes,
                  (SELECT count(*) FROM aliases WHERE domain_id = $1) AS aliases`,
          [id],
        );
        const row = n.rows[0]!;
        if (row.mailboxes > 0 || row.aliases > 0) return row;
      }
      // ON DELETE CASCADE removes mailboxes, their mailbox_messages, and aliases.
      await c.query('DELETE FROM domains WHERE id = $1', [id]);
      return 'deleted';
    });
  }

  // ---- mailboxes ----

  async createMailbox(domainId: number, local: string, address: string, passwordHash: string, quotaBytes: number): Promise<MailboxRow> {
    const r = await this.pool.query<MailboxRow>(
      `WITH m AS (
         INSERT INTO mailboxes (domain_id, local_part, address, password_hash, quota_bytes)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING *)
       SELECT ${MAILBOX_COLS} FROM m JOIN domains d ON d.id = m.domain_id`,
      [domainId, local, address, passwordHash, quotaBytes],
    );
    return r.rows[0]!;
  }

  async getMailbox(address: string): Promise<MailboxDetail | null> {
    const r = await this.pool.query<MailboxDetail>(
      // Counters kept by mailbox_messages' triggers (migration 0009).
      `SELECT ${MAILBOX_COLS}, m.message_count AS "messageCount", m.used_bytes AS "sizeBytes"
         FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE lower(m.address) = lower($1)`,
      [address],
    );
    return r.rows[0] ?? null;
  }

  async listMailboxes(o: ListOptions): Promise<Page<MailboxRow>> {
    const r = await this.pool.query<MailboxRow & { sortKey: string }>(
      `SELECT ${MAILBOX_COLS}, lower(m.address) AS "sortKey"
         FROM mailboxes m JOIN domains d ON d.id = m.domain_id
        WHERE ($1::text IS NULL OR lower(m.address) > $1)
          AND ($3::text IS NULL OR lower(d.name) = lower($3))
          AND ($4::text[] IS NULL OR lower(d.name) = ANY($4::text[]))
        ORDER BY lower(m.address) LIMIT $2`,
      [o.after, o.limit + 1, o.domain ?? null, o.only ?? null],
    );
    return page(r.rows, o.limit);
  }

  async updateMailbox(address: string, change: { passwordHash?: string | undefined; quotaBytes?: number | undefined }): Promise<MailboxRow | null> {
    const r = await this.pool.query<MailboxRow>(
      `WITH m AS (
         UPDATE mailboxes SET
           password_hash = coalesce($2, password_hash),
           quota_bytes = coalesce($3, quota_bytes),
           updated_at = now()
         WHERE lower(address) = lower($1)
         RETURNING *)
       SELECT ${MAILBOX_COLS} FROM m JOIN domains d ON d.id = m.domain_id`,
      [address, change.passwordHash ?? null, change.quotaBytes ?? null],
    );
    return r.rows[0] ?? null;
  }

  async deleteMailbox(address: string, actor: string): Promise<boolean> {
    // mailbox_messages go with it (ON DELETE CASCADE); the messages and recipient rows stay
    // as the record of what was delivered. The trace records the removal as this admin's.
    return withTransaction(this.pool, async (c: PoolClient) => {
      await c.query(`SELECT set_config('hopmail.actor', $1, true)`, [actor]);
      const r = await c.query('DELETE FROM mailboxes WHERE lower(address) = lower($1)', [address]);
      return (r.rowCount ?? 0) > 0;
    });
  }

  // ---- aliases ----

  async createAlias(domainId: number, source: string, targets: string[]): Promise<AliasRow> {
    const r = await this.pool.query<AliasRow>(
      `WITH a AS (INSERT INTO aliases (domain_id, source, targets) VALUES ($1, $2, $3) RETURNING *)
       SELECT ${ALIAS_COLS} FROM a JOIN domains d ON d.id = a.domain_id`,
      [domainId, source, targets],
    );
    return r.rows[0]!;
  }

  /** Replaces the targets; null when there is no such alias. */
  async updateAliasTargets(source: string, targets: string[]): Promise<AliasRow | null> {
    const r = await this.pool.query<AliasRow>(
      `WITH a AS (UPDATE aliases SET targets = $2 WHERE lower(source) = lower($1) RETURNING *)
       SELECT ${ALIAS_COLS} FROM a JOIN domains d ON d.id = a.domain_id`,
      [source, targets],
    );
    return r.rows[0] ?? null;
  }

  async getAlias(source: string): Promise<AliasRow | null> {
    const r = await this.pool.query<AliasRow>(
      `SELECT ${ALIAS_COLS} FROM aliases a JOIN domains d ON d.id = a.domain_id WHERE lower(a.source) = lower($1)`,
      [source],
    );
    return r.rows[0] ?? null;
  }

  async listAliases(o: ListOptions): Promise<Page<AliasRow>> {
    const r = await this.pool.query<AliasRow & { sortKey: string }>(
      `SELECT ${ALIAS_COLS}, lower(a.source) AS "sortKey"
         FROM aliases a JOIN domains d ON d.id = a.domain_id
        WHERE ($1::text IS NULL OR lower(a.source) > $1)
          AND ($3::text IS NULL OR lower(d.name) = lower($3))
          AND ($4::text[] IS NULL OR lower(d.name) = ANY($4::text[]))
        ORDER BY lower(a.source) LIMIT $2`,
      [o.after, o.limit + 1, o.domain ?? null, o.only ?? null],
    );
    return page(r.rows, o.limit);
  }

  async deleteAlias(source: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM aliases WHERE lower(source) = lower($1)', [source]);
    return (r.rowCount ?? 0) > 0;
  }
}
