// PostgreSQL access for DKIM keys (migration 0011). The private key goes in encrypted and
// never comes out of here: no query of this module selects private_key.
import { withTransaction, type Pool } from '@hopmail/db';
import type { DkimAlgorithm } from '@hopmail/sender-auth';

/** pending → active (signing while the newest of its algorithm) → retiring (grace period) → retired. */
export type KeyStatus = 'pending' | 'active' | 'retiring' | 'retired';

export interface DkimKeyRow {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  bits: number;
  publicKey: string;
  status: KeyStatus;
  /** The key the relay signs with now (newest active of its algorithm). */
  signing: boolean;
  imported: boolean;
  createdAt: Date;
  activatedAt: Date | null;
  retireAt: Date | null;
  retiredAt: Date | null;
}

export interface NewKey {
  domainId: number;
  selector: string;
  algorithm: DkimAlgorithm;
  bits: number;
  publicKey: string;
  /** Ciphertext (sealPrivateKey). */
  privateKey: Buffer;
  kekId: string;
  imported: boolean;
}

// Status as of now: an active key past its retire_at is retired; one before it is retiring.
const COLS = `lower(d.name) AS domain, k.selector, k.algorithm, k.bits, k.public_key AS "publicKey",
  CASE WHEN k.status = 'active' AND k.retire_at IS NOT NULL AND k.retire_at <= now() THEN 'retired'
       WHEN k.status = 'active' AND k.retire_at IS NOT NULL THEN 'retiring' ELSE k.status END AS status,
  k.imported, k.created_at AS "createdAt", k.activated_at AS "activatedAt", k.retire_at AS "retireAt",
  coalesce(k.retired_at, CASE WHEN k.status = 'active' AND k.retire_at <= now() THEN k.retire_at END) AS "retiredAt",
  k.id = (SELECT s.id FROM dkim_keys s WHERE s.domain_id = k.domain_id AND s.algorithm = k.algorithm AND s.status = 'active'
           AND (s.retire_at IS NULL OR s.retire_at > now()) ORDER BY s.activated_at DESC, s.id DESC LIMIT 1) AS signing`;

/** Keys of the algorithm that were active: they now have `grace` before retirement (a shorter one already set stays). */
const GRACE = `UPDATE dkim_keys SET retire_at = now() + make_interval(days => $4)
  WHERE domain_id = $1 AND algorithm = $2 AND status = 'active' AND id <> $3 AND (retire_at IS NULL OR retire_at > now() + make_interval(days => $4))`;

export class DkimKeyStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  async list(domainId: number): Promise<DkimKeyRow[]> {
    const r = await this.pool.query<DkimKeyRow>(`SELECT ${COLS} FROM dkim_keys k JOIN domains d ON d.id = k.domain_id WHERE k.domain_id = $1 ORDER BY k.algorithm, k.created_at, k.id`, [domainId]);
    return r.rows;
  }

  async get(domainId: number, selector: string): Promise<DkimKeyRow | null> {
    const r = await this.pool.query<DkimKeyRow>(`SELECT ${COLS} FROM dkim_keys k JOIN domains d ON d.id = k.domain_id WHERE k.domain_id = $1 AND k.selector = $2`, [domainId, selector]);
    return r.rows[0] ?? null;
  }

  /** Inserts a key (unique per domain and selector: 23505 on a duplicate); `activate` starts it signing at once. */
  async create(k: NewKey, activate: { graceDays: number } | null): Promise<DkimKeyRow> {
    await withTransaction(this.pool, async (c) => {
      const r = await c.query<{ id: string }>(
        `INSERT INTO dkim_keys (domain_id, selector, algorithm, bits, public_key, private_key, kek_id, imported, status, activated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $9 = 'active' THEN now() END) RETURNING id`,
        [k.domainId, k.selector, k.algorithm, k.bits, k.publicKey, k.privateKey, k.kekId, k.imported, activate ? 'active' : 'pending'],
      );
      if (activate) await c.query(GRACE, [k.domainId, k.algorithm, r.rows[0]!.id, activate.graceDays]);
    });
    return (await this.get(k.domainId, k.selector))!;
  }

  /**
   * pending → active; the other active keys of its algorithm get `graceDays` before they are
   * retired. 'missing', or the key's current status when it cannot be activated.
   */
  async activate(domainId: number, selector: string, graceDays: number): Promise<DkimKeyRow | 'missing' | 'not-pending'> {
    const done = await withTransaction(this.pool, async (c) => {
      const r = await c.query<{ id: string; algorithm: string; status: string }>('SELECT id, algorithm, status FROM dkim_keys WHERE domain_id = $1 AND selector = $2 FOR UPDATE', [domainId, selector]);
      const row = r.rows[0];
      if (!row) return 'missing' as const;
      if (row.status !== 'pending') return 'not-pending' as const;
      await c.query(`UPDATE dkim_keys SET status = 'active', activated_at = clock_timestamp() WHERE id = $1`, [row.id]);
      await c.query(GRACE, [domainId, row.algorithm, row.id, graceDays]);
      return 'ok' as const;
    });
    return done === 'ok' ? (await this.get(domainId, selector))! : done;
  }

  /** Retired at once (from pending, active or retiring); it never signs again. */
  async retire(domainId: number, selector: string): Promise<DkimKeyRow | null> {
    const r = await this.pool.query(`UPDATE dkim_keys SET status = 'retired', retired_at = coalesce(retired_at, now()) WHERE domain_id = $1 AND selector = $2`, [domainId, selector]);
    return r.rowCount ? this.get(domainId, selector) : null;
  }

  /** Deletes a pending or retired key; an active one (its record must stay published) is refused. */
  async delete(domainId: number, selector: string): Promise<'deleted' | 'missing' | 'active'> {
    const r = await this.pool.query<{ deleted: boolean }>(
      `WITH k AS (SELECT id, status = 'active' AND (retire_at IS NULL OR retire_at > now()) AS live FROM dkim_keys WHERE domain_id = $1 AND selector = $2),
            d AS (DELETE FROM dkim_keys WHERE id IN (SELECT id FROM k WHERE NOT live) RETURNING id)
       SELECT EXISTS (SELECT 1 FROM d) AS deleted, (SELECT live FROM k) AS live`,
      [domainId, selector],
    );
    const row = r.rows[0] as { deleted: boolean; live: boolean | null };
    return row.live === null ? 'missing' : row.deleted ? 'deleted' : 'active';
  }
}
