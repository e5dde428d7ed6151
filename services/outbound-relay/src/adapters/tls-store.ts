// PostgreSQL access for transport security (migration 0017): the operator's TLS policy and the
// cached MTA-STS policy of a destination (one round trip per job), the MTA-STS cache writes,
// and the TLS outcome counters TLS-RPT reports from.
import type { Pool } from '@hopmail/db';
import type { CachedPolicy, StsPolicy } from '../policy/mta-sts.ts';
import type { OperatorPolicy, PolicyType } from '../policy/tls-policy.ts';

export interface TlsOutcome {
  domain: string;
  policyType: PolicyType;
  /** The MTA-STS policy id (or '' without a policy). */
  policyString: string;
  mxHost: string;
  ip: string;
  /** '' for success. */
  resultType: string;
  detail: string | null;
  at: Date;
}

interface Row {
  operator: { policy: OperatorPolicy['policy']; ca_pem: string | null; fingerprints: string[] } | null;
  sts: { policy_id: string; mode: CachedPolicy['mode']; mx: string[]; max_age: number; expires_at: string } | null;
}

export class TlsStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  async lookup(domain: string): Promise<{ operator: OperatorPolicy | null; sts: CachedPolicy | null }> {
    const r = await this.pool.query<Row>(
      `SELECT (SELECT row_to_json(p) FROM (SELECT policy, ca_pem, fingerprints FROM tls_policies WHERE domain = $1) p) AS operator,
              (SELECT row_to_json(s) FROM (SELECT policy_id, mode, mx, max_age, expires_at FROM mta_sts_policies WHERE domain = $1) s) AS sts`,
      [domain],
    );
    const { operator, sts } = r.rows[0]!;
    return {
      operator: operator && { policy: operator.policy, caPem: operator.ca_pem, fingerprints: operator.fingerprints },
      sts: sts && { id: sts.policy_id, mode: sts.mode, mx: sts.mx, maxAge: sts.max_age, expiresAt: new Date(sts.expires_at) },
    };
  }

  async saveSts(domain: string, id: string, policy: StsPolicy, body: string, now: Date): Promise<CachedPolicy> {
    const expiresAt = new Date(now.getTime() + policy.maxAge * 1000);
    await this.pool.query(
      `INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age, body, fetched_at, expires_at, checked_at, last_error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, NULL)
       ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx, max_age = excluded.max_age,
         body = excluded.body, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at, checked_at = excluded.checked_at, last_error = NULL`,
      [domain, id, policy.mode, policy.mx, policy.maxAge, body, now, expiresAt],
    );
    return { ...policy, id, expiresAt };
  }

  /** A failed refresh: the cached policy (if any) stays, with the error noted. */
  async noteStsFailure(domain: string, error: string, now: Date): Promise<void> {
    await this.pool.query('UPDATE mta_sts_policies SET checked_at = $2, last_error = $3 WHERE domain = $1', [domain, now, error]);
  }

  /** Adds one session (or one failure) to the day's counters. */
  async recordOutcome(o: TlsOutcome): Promise<void> {
    await this.pool.query(
      `INSERT INTO tls_outcomes AS t (day, domain, policy_type, policy_string, mx_host, receiving_ip, result_type, count, detail, updated_at)
       VALUES (($8::timestamptz AT TIME ZONE 'UTC')::date, $1, $2, $3, $4, $5, $6, 1, $7, $8)
       ON CONFLICT (domain, day, policy_type, mx_host, receiving_ip, result_type, policy_string)
       DO UPDATE SET count = t.count + 1, detail = coalesce(excluded.detail, t.detail), updated_at = excluded.updated_at`,
      [o.domain, o.policyType, o.policyString, o.mxHost, o.ip, o.resultType, o.detail, o.at],
    );
  }
}
