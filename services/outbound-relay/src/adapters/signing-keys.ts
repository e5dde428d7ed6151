// The DKIM keys the relay signs with: for each domain asked, the newest active key of each
// algorithm (migration 0011's lifecycle: pending keys and retired ones, explicit or past
// their grace period, never sign). What a look-up found is kept while dkim_key_epoch — which
// every change of dkim_keys bumps, and which each job reads with its work — stays the same,
// and no longer than the earliest retire_at among the keys found: an activation or a
// retirement counts from the next job on, and the hot path makes no extra round trip. The
// decrypted keys are kept by id (a key's material never changes).
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Pool } from '@hopmail/db';
import { KekError, openPrivateKey, type DkimAlgorithm, type Kek } from '@hopmail/sender-auth';

export interface LoadedKey {
  id: number;
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  key: KeyObject;
  /** PEM for mailauth's ARC sealer. Secret: never logged. */
  pem: string;
}

/** A key that is active but cannot be used (made under another KEK, or damaged). */
export interface UnusableKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  kekId: string;
  reason: string;
}

export interface FoundKeys {
  keys: Map<string, LoadedKey[]>;
  unusable: UnusableKey[];
  /** From the cache: `unusable` was reported when it was looked up. */
  cached: boolean;
}

interface Row {
  id: string;
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  kek_id: string;
  retire_at: Date | null;
  private_key: Buffer | null;
}

const KEY_LIMIT = 10_000;
const LOOKUP_LIMIT = 10_000;

export class SigningKeys {
  private readonly pool: Pool;
  private readonly kek: Kek;
  private readonly material = new Map<number, LoadedKey>();
  private readonly lookups = new Map<string, { found: FoundKeys; until: number }>();
  /** Look-ups in flight: jobs that start together (a burst, a new epoch) share one query. */
  private readonly pending = new Map<string, Promise<FoundKeys>>();
  private epoch = -1;
  constructor(pool: Pool, kek: Kek) {
    this.pool = pool;
    this.kek = kek;
  }

  /** Keys by domain (lower case), newest active of each algorithm, Ed25519 first. */
  async forDomains(domains: readonly string[], epoch: number): Promise<FoundKeys> {
    if (!domains.length) return { keys: new Map(), unusable: [], cached: true };
    if (epoch !== this.epoch) {
      this.lookups.clear();
      this.pending.clear();
      this.epoch = epoch;
    }
    const names = domains.map((d) => d.toLowerCase());
    const id = names.join(' ');
    const hit = this.lookups.get(id);
    if (hit && Date.now() < hit.until) return { ...hit.found, cached: true };
    // Those who join a look-up in flight do not report its unusable keys again.
    const inFlight = this.pending.get(id);
    if (inFlight) return { ...(await inFlight), cached: true };
    const lookUp = this.lookUp(names).then((found) => {
      // Kept only if no newer epoch began meanwhile (its first job reads the keys afresh).
      if (this.epoch === epoch) {
        if (this.lookups.size >= LOOKUP_LIMIT) this.lookups.clear();
        this.lookups.set(id, found);
      }
      return found.found;
    });
    this.pending.set(id, lookUp);
    try {
      return await lookUp;
    } finally {
      if (this.pending.get(id) === lookUp) this.pending.delete(id);
    }
  }

  private async lookUp(domains: string[]): Promise<{ found: FoundKeys; until: number }> {
    const keys = new Map<string, LoadedKey[]>();
    const unusable: UnusableKey[] = [];
    const r = await this.pool.query<Row>(
      `SELECT DISTINCT ON (k.domain_id, k.algorithm) k.id, lower(d.name) AS domain, k.selector, k.algorithm, k.kek_id, k.retire_at,
              CASE WHEN k.id = ANY($2::bigint[]) THEN NULL ELSE k.private_key END AS private_key
         FROM dkim_keys k JOIN domains d ON d.id = k.domain_id
        WHERE lower(d.name) = ANY($1::text[]) AND k.status = 'active' AND (k.retire_at IS NULL OR k.retire_at > now())
        ORDER BY k.domain_id, k.algorithm, k.activated_at DESC, k.id DESC`,
      [domains, [...this.material.keys()]],
    );
    let until = Infinity;
    for (const row of r.rows.sort((a, b) => (a.algorithm === b.algorithm ? 0 : a.algorithm === 'ed25519' ? -1 : 1))) {
      if (row.retire_at) until = Math.min(until, row.retire_at.getTime());
      const id = Number(row.id);
      let loaded = this.material.get(id);
      if (!loaded) {
        if (!row.private_key) continue; // evicted between the query and now: next look-up
        try {
          const pem = openPrivateKey(this.kek, { domain: row.domain, selector: row.selector }, row.private_key);
          loaded = { id, domain: row.domain, selector: row.selector, algorithm: row.algorithm, key: createPrivateKey(pem), pem };
        } catch (err) {
          unusable.push({ domain: row.domain, selector: row.selector, algorithm: row.algorithm, kekId: row.kek_id, reason: err instanceof KekError ? err.message : 'not a private key' });
          continue;
        }
        if (this.material.size >= KEY_LIMIT) this.material.clear();
        this.material.set(id, loaded);
      }
      keys.set(row.domain, [...(keys.get(row.domain) ?? []), loaded]);
    }
    return { found: { keys, unusable, cached: false }, until };
  }
}
