// API keys. A key is `hmk_` + 32 random bytes (base64url); only its SHA-256 is stored. With
// 256 bits of entropy there is nothing to brute-force, so a slow password hash would add
// latency to every request and no safety; one unique-index lookup finds the key, and a
// database dump does not reveal usable keys.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from '@hopmail/db';
import type { Principal, Scope } from '../policy/scope.ts';

export const KEY_PREFIX = 'hmk_';

export interface KeyRow {
  id: string;
  name: string;
  prefix: string;
  scope: Scope;
  domains: string[];
  createdBy: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const COLS = `id, name, key_prefix AS prefix, scope, domains, created_by AS "createdBy", created_at AS "createdAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"`;
const hash = (key: string) => createHash('sha256').update(key, 'utf8').digest();

export class KeyStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  async create(name: string, scope: Scope, domains: readonly string[], createdBy: string): Promise<{ row: KeyRow; key: string }> {
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const r = await this.pool.query<KeyRow>(
      `INSERT INTO api_keys (id, name, key_hash, key_prefix, scope, domains, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLS}`,
      [randomUUID(), name, hash(key), key.slice(0, 10), scope, domains, createdBy],
    );
    return { row: r.rows[0]!, key };
  }

  /** The principal of a live key, or null. */
  async authenticate(key: string): Promise<Principal | null> {
    if (!key.startsWith(KEY_PREFIX)) return null;
    const r = await this.pool.query<{ id: string; scope: Scope; domains: string[] }>(
      `UPDATE api_keys SET last_used_at = now()
        WHERE key_hash = $1 AND revoked_at IS NULL
        RETURNING id, scope, domains`,
      [hash(key)],
    );
    const row = r.rows[0];
    if (!row) return null;
    return { actor: `key:${row.id}`, keyId: row.id, scope: row.scope, domains: row.domains.map((d) => d.toLowerCase()) };
  }

  async get(id: string): Promise<KeyRow | null> {
    const r = await this.pool.query<KeyRow>(`SELECT ${COLS} FROM api_keys WHERE id = $1`, [id]);
    return r.rows[0] ?? null;
  }

  async list(o: { limit: number; after: string | null }): Promise<{ items: KeyRow[]; nextKey: string | null }> {
    const r = await this.pool.query<KeyRow>(`SELECT ${COLS} FROM api_keys WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2`, [o.after, o.limit + 1]);
    const more = r.rows.length > o.limit;
    const items = r.rows.slice(0, o.limit);
    return { items, nextKey: more ? items.at(-1)!.id : null };
  }

  /** Revokes; true when the key exists (revoking twice is harmless). */
  async revoke(id: string): Promise<boolean> {
    const r = await this.pool.query('UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1', [id]);
    return (r.rowCount ?? 0) > 0;
  }
}
