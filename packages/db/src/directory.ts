import type { Directory, MailboxRef } from '@hopmail/mail';
import type pg from 'pg';

/**
 * PostgreSQL-backed Directory. Lookups are case-insensitive at the SQL level unless
 * `localPartCaseSensitive`, matching the unique indexes on lower(address).
 * A short TTL cache keeps RCPT checks off the database under load; admin changes are
 * visible after at most `cacheMs`.
 */
export class PgDirectory implements Directory {
  private readonly cache = new Map<string, { at: number; value: unknown }>();
  private readonly pool: pg.Pool;
  private readonly caseSensitive: boolean;
  private readonly cacheMs: number;

  constructor(pool: pg.Pool, options: { localPartCaseSensitive?: boolean; cacheMs?: number } = {}) {
    this.pool = pool;
    this.caseSensitive = options.localPartCaseSensitive ?? false;
    this.cacheMs = options.cacheMs ?? 0;
  }

  private async cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    if (this.cacheMs <= 0) return load();
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && now - hit.at < this.cacheMs) return hit.value as T;
    const value = await load();
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { at: now, value });
    return value;
  }

  domainKind(domain: string): Promise<'local' | 'relay' | null> {
    return this.cached('d:' + domain.toLowerCase(), async () => {
      const r = await this.pool.query<{ kind: 'local' | 'relay' }>('SELECT kind FROM domains WHERE lower(name) = lower($1)', [domain]);
      return r.rows[0]?.kind ?? null;
    });
  }

  findMailbox(address: string): Promise<MailboxRef | null> {
    return this.cached('m:' + address, async () => {
      const r = await this.pool.query<MailboxRef>(
        'SELECT id, address FROM mailboxes WHERE lower(address) = lower($1)' + (this.caseSensitive ? ' AND address = $1' : ''),
        [address],
      );
      return r.rows[0] ?? null;
    });
  }

  /** The oldest mailbox of the cluster (the postmaster's when nothing else is configured), or null. */
  firstMailbox(): Promise<MailboxRef | null> {
    return this.cached('first', async () => {
      const r = await this.pool.query<MailboxRef>('SELECT id, address FROM mailboxes ORDER BY id LIMIT 1');
      return r.rows[0] ?? null;
    });
  }

  findAlias(source: string): Promise<string[] | null> {
    return this.cached('a:' + source, async () => {
      const r = await this.pool.query<{ targets: string[] }>(
        'SELECT targets FROM aliases WHERE lower(source) = lower($1)' + (this.caseSensitive && !source.startsWith('@') ? ' AND source = $1' : ''),
        [source],
      );
      return r.rows[0]?.targets ?? null;
    });
  }
}
