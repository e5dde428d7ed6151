// Console sessions in PostgreSQL, so that any admin-api replica answers any request of a
// signed-in browser. The cookie value is 32 random bytes; only its SHA-256 is stored (as for
// API keys: nothing to brute-force, a dump yields no usable cookie). The CSRF token is
// derived from the cookie value, so it needs no storage and cannot be computed without it.
import { createHash, randomBytes } from 'node:crypto';
import type { Pool } from '@hopmail/db';
import type { Principal, Scope } from '../policy/scope.ts';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The CSRF token of a session: what the page sends back in X-CSRF-Token on every change. */
export const csrfTokenOf = (cookieValue: string) => createHash('sha256').update(`hopmail-csrf\0${cookieValue}`, 'utf8').digest('base64url');

export interface SessionTimes {
  /** Signed out after this long without a request. */
  idleS: number;
  /** …and this long after sign-in whatever happens. */
  maxS: number;
}

export type SessionLookup = { principal: Principal; expiresAt: Date } | 'expired' | 'unknown';

export class SessionStore {
  private readonly pool: Pool;
  private readonly times: SessionTimes;
  private readonly tokenHash: Buffer;
  constructor(pool: Pool, times: SessionTimes, bootstrapToken: string) {
    this.pool = pool;
    this.times = times;
    this.tokenHash = sha256(bootstrapToken);
  }

  /** A new session for a principal that just proved its credential; returns the cookie value. */
  async create(principal: Principal, remoteIp: string): Promise<{ cookie: string; expiresAt: Date }> {
    const cookie = randomBytes(32).toString('base64url');
    const r = await this.pool.query<{ expiresAt: Date }>(
      `INSERT INTO console_sessions (id_hash, key_id, token_hash, expires_at, remote_ip)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5) RETURNING expires_at AS "expiresAt"`,
      [sha256(cookie), principal.keyId, principal.keyId === null ? this.tokenHash : null, this.times.maxS, remoteIp],
    );
    // Expired sessions of everyone go now and then; a sign-in is rare enough to pay for it.
    await this.pool.query(`DELETE FROM console_sessions WHERE id_hash IN (SELECT id_hash FROM console_sessions WHERE expires_at < now() - interval '1 hour' LIMIT 1000)`);
    return { cookie, expiresAt: r.rows[0]!.expiresAt };
  }

  /**
   * The principal of a live session, checked against its key on every request (a revoked key,
   * a changed scope or a changed ADMIN_TOKEN take effect at once). Touches last_seen_at at
   * most every 10 seconds, so a busy page does not write on every poll.
   */
  async lookup(cookie: string): Promise<SessionLookup> {
    const r = await this.pool.query<{ keyId: string | null; tokenOk: boolean; live: boolean; expiresAt: Date; scope: Scope | null; domains: string[] | null; revoked: boolean; stale: boolean }>(
      `SELECT s.key_id AS "keyId", s.token_hash = $2 AS "tokenOk", s.expires_at AS "expiresAt",
              s.expires_at > now() AND s.last_seen_at > now() - make_interval(secs => $3) AS live,
              s.last_seen_at < now() - interval '10 seconds' AS stale,
              k.scope, k.domains, k.revoked_at IS NOT NULL AS revoked
         FROM console_sessions s LEFT JOIN api_keys k ON k.id = s.key_id
        WHERE s.id_hash = $1`,
      [sha256(cookie), this.tokenHash, this.times.idleS],
    );
    const row = r.rows[0];
    if (!row) return 'unknown';
    const valid = row.live && (row.keyId === null ? row.tokenOk : row.scope !== null && !row.revoked);
    if (!valid) {
      await this.pool.query('DELETE FROM console_sessions WHERE id_hash = $1', [sha256(cookie)]);
      return 'expired';
    }
    if (row.stale) await this.pool.query('UPDATE console_sessions SET last_seen_at = now() WHERE id_hash = $1', [sha256(cookie)]);
    const principal: Principal =
      row.keyId === null
        ? { actor: 'bootstrap', keyId: null, scope: 'admin', domains: [] }
        : { actor: `key:${row.keyId}`, keyId: row.keyId, scope: row.scope!, domains: (row.domains ?? []).map((d) => d.toLowerCase()) };
    return { principal, expiresAt: row.expiresAt };
  }

  async delete(cookie: string): Promise<void> {
    await this.pool.query('DELETE FROM console_sessions WHERE id_hash = $1', [sha256(cookie)]);
  }
}
