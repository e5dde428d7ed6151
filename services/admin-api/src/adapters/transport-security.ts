// PostgreSQL access for transport security (migration 0017): the operator's per-domain TLS
// policies (read by outbound-relay on every delivery), the TLS outcomes the relay counts for
// TLS-RPT, and the reports other servers sent us.
import { saveReceivedTlsReport, type Pool } from '@hopmail/db';
import type { ParsedReport } from '@hopmail/mail';
import type { TlsPolicyKind } from '../policy/tls-policy.ts';

export type { TlsPolicyKind };

export interface TlsPolicyRow {
  domain: string;
  policy: TlsPolicyKind;
  caPem: string | null;
  fingerprints: string[];
  note: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface TlsOutcomeRow {
  day: string;
  policyType: 'sts' | 'tlsa' | 'no-policy-found';
  mxHost: string;
  receivingIp: string;
  /** '' for successful sessions; an RFC 8460 §4.3 result type otherwise. */
  resultType: string;
  count: number;
  detail: string | null;
}

export interface ReceivedReportRow {
  id: number;
  receivedAt: Date;
  organization: string;
  reportId: string;
  policyDomain: string;
  startAt: Date;
  endAt: Date;
  successful: number;
  failed: number;
  report: unknown;
}

const POLICY_COLS = `domain, policy, ca_pem AS "caPem", fingerprints, note, created_at AS "createdAt", updated_at AS "updatedAt"`;

export class TransportSecurityStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** Creates or replaces; `created` says which. */
  async putPolicy(p: { domain: string; policy: TlsPolicyKind; caPem: string | null; fingerprints: string[]; note: string }): Promise<{ row: TlsPolicyRow; created: boolean }> {
    const r = await this.pool.query<TlsPolicyRow & { created: boolean }>(
      `INSERT INTO tls_policies (domain, policy, ca_pem, fingerprints, note) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (domain) DO UPDATE SET policy = excluded.policy, ca_pem = excluded.ca_pem, fingerprints = excluded.fingerprints,
         note = excluded.note, updated_at = now()
       RETURNING ${POLICY_COLS}, (xmax = 0) AS created`,
      [p.domain, p.policy, p.caPem, p.fingerprints, p.note],
    );
    const { created, ...row } = r.rows[0]!;
    return { row, created };
  }

  async getPolicy(domain: string): Promise<TlsPolicyRow | null> {
    const r = await this.pool.query<TlsPolicyRow>(`SELECT ${POLICY_COLS} FROM tls_policies WHERE domain = $1`, [domain]);
    return r.rows[0] ?? null;
  }

  async listPolicies(opts: { limit: number; after: string | null }): Promise<{ items: TlsPolicyRow[]; nextKey: string | null }> {
    const r = await this.pool.query<TlsPolicyRow>(`SELECT ${POLICY_COLS} FROM tls_policies WHERE ($1::text IS NULL OR domain > $1) ORDER BY domain LIMIT $2`, [opts.after, opts.limit + 1]);
    const items = r.rows.slice(0, opts.limit);
    return { items, nextKey: r.rows.length > opts.limit ? items[items.length - 1]!.domain : null };
  }

  async deletePolicy(domain: string): Promise<boolean> {
    const r = await this.pool.query('DELETE FROM tls_policies WHERE domain = $1', [domain]);
    return (r.rowCount ?? 0) > 0;
  }

  /** The relay's TLS outcomes for one destination over the last `days` days, newest first. */
  async outcomes(domain: string, days: number): Promise<TlsOutcomeRow[]> {
    const r = await this.pool.query<TlsOutcomeRow>(
      `SELECT to_char(day, 'YYYY-MM-DD') AS day, policy_type AS "policyType", mx_host AS "mxHost", receiving_ip AS "receivingIp",
              result_type AS "resultType", count::float8 AS count, detail
         FROM tls_outcomes WHERE domain = $1 AND day > current_date - $2::int
        ORDER BY day DESC, policy_type, mx_host, receiving_ip, result_type`,
      [domain, days],
    );
    return r.rows;
  }

  /** Reports other servers sent about their deliveries to `domain`, newest first. */
  async receivedReports(domain: string, limit: number): Promise<ReceivedReportRow[]> {
    const r = await this.pool.query<ReceivedReportRow>(
      `SELECT id::float8 AS id, received_at AS "receivedAt", organization, report_id AS "reportId", policy_domain AS "policyDomain",
              start_at AS "startAt", end_at AS "endAt", successful::float8 AS successful, failed::float8 AS failed, report
         FROM tls_reports_received WHERE policy_domain = $1 ORDER BY start_at DESC, id DESC LIMIT $2`,
      [domain, limit],
    );
    return r.rows;
  }

  /** Is `domain` one of our local domains (we serve its MTA-STS policy, we take its reports)? */
  async isLocalDomain(domain: string): Promise<boolean> {
    const r = await this.pool.query(`SELECT 1 FROM domains WHERE lower(name) = $1 AND kind = 'local'`, [domain]);
    return (r.rowCount ?? 0) > 0;
  }

  /**
   * Stores a received report once per policy domain of ours it covers (the same report sent
   * twice is stored once; routing's report address uses the same function). Returns the domains stored.
   */
  async saveReceived(p: ParsedReport): Promise<string[]> {
    return (await saveReceivedTlsReport(this.pool, p)).stored;
  }
}
