// TLS-RPT reports other servers send us (RFC 8460), stored once per policy domain of ours
// (migration 0017, tls_reports_received): one function for both ways in, admin-api's
// POST /tlsrpt and routing's report address.
import type { ParsedReport } from '@hopmail/mail';
import type { Queryable } from './pool.ts';

export interface SavedTlsReport {
  /** Policy domains of the report that are local domains of ours, sorted. */
  ours: string[];
  /** Those of `ours` stored now; a domain already stored for this organization and report id is not (the same report twice is stored once). */
  stored: string[];
}

/**
 * One statement: the report's totals per policy domain of ours, ON CONFLICT (organization,
 * report_id, policy_domain) DO NOTHING, so a report sent twice, or a job run twice, stores
 * nothing more. Domains not ours are ignored.
 */
export async function saveReceivedTlsReport(db: Queryable, p: ParsedReport): Promise<SavedTlsReport> {
  const names = [...p.domains.keys()];
  const r = await db.query<{ ours: string[]; stored: string[] }>(
    `WITH x AS (
       SELECT x.domain, x.ok, x.failed
         FROM unnest($6::text[], $7::bigint[], $8::bigint[]) AS x(domain, ok, failed)
        WHERE EXISTS (SELECT 1 FROM domains d WHERE lower(d.name) = x.domain AND d.kind = 'local')
     ), ins AS (
       INSERT INTO tls_reports_received (organization, report_id, policy_domain, start_at, end_at, successful, failed, report)
       SELECT $1, $2, x.domain, $3, $4, x.ok, x.failed, $5 FROM x
       ON CONFLICT (organization, report_id, policy_domain) DO NOTHING
       RETURNING policy_domain
     )
     SELECT coalesce((SELECT array_agg(domain ORDER BY domain) FROM x), '{}') AS ours,
            coalesce((SELECT array_agg(policy_domain ORDER BY policy_domain) FROM ins), '{}') AS stored`,
    [p.organization, p.reportId, p.start, p.end, JSON.stringify(p.report), names, names.map((n) => p.domains.get(n)!.successful), names.map((n) => p.domains.get(n)!.failed)],
  );
  return r.rows[0]!;
}
