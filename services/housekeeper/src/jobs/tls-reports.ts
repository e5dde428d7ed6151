// TLS-RPT (RFC 8460): once a UTC day has ended, one replica at a time (LOCKS.tlsReports) turns
// the relay's tls_outcomes counters of each destination domain into the aggregate report and
// sends it to the rua of the domain's _smtp._tls TXT record: mailto: as a message from
// TLSRPT_FROM (committed like any other; the relay DKIM-signs it with the sender domain's key,
// which RFC 8460 §5.3 requires), https: as a POST of application/tlsrpt+gzip. The row in
// tls_rpt_sent is written first, so a report is sent at most once (§5.1 suggests no retry
// beyond a short period; a lost report is followed by the next day's).
import { request } from 'node:https';
import { gzipSync } from 'node:zlib';
import { LOCKS, insertMessage, withAdvisoryLock, type Pool } from '@hopmail/db';
import type { DnsClient } from '@hopmail/dns-client';
import { buildTlsReport, newMessageId, parseTlsRptTxt, tlsReportMessage, type OutcomeCount } from '@hopmail/mail';
import type { Producer } from '@hopmail/queue';
import { createPeriodic, type Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';

export interface TlsReportsDeps {
  pool: Pool;
  dns: DnsClient;
  route: Producer<'route-message'>;
  logger: Logger;
  intervalMs: number;
  organization: string;
  contact: string;
  /** The reports' sender address (mailto: rua); empty: mailto: reports are not sent. */
  from: string;
  /** Our name in the report (TLS-Report-Submitter), the MX host name. */
  submitter: string;
  httpTimeoutMs: number;
  /** Trusted CAs for https: rua (tests); undefined: Node's roots. */
  ca: string[] | undefined;
  /** Days per pass at most. */
  batch: number;
}

export interface SentReport {
  domain: string;
  day: string;
  reportId: string;
  rua: string[];
  errors: string[];
}

function post(url: string, body: Buffer, timeoutMs: number, ca: string[] | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/tlsrpt+gzip', 'content-length': body.length }, timeout: timeoutMs, ...(ca ? { ca } : {}), agent: false }, (res) => {
      res.resume();
      // RFC 8460 §5.4: 200-299 is success; redirects are not followed.
      if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) resolve();
      else reject(new Error(`HTTP ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function createTlsReports(d: TlsReportsDeps) {
  async function sendOne(domain: string, day: string, rua: string[]): Promise<SentReport> {
    const rows = await d.pool.query<OutcomeCount & { count: number }>(
      `SELECT policy_type AS "policyType", policy_string AS "policyId", mx_host AS "mxHost", receiving_ip AS "receivingIp", result_type AS "resultType", count::float8 AS count
         FROM tls_outcomes WHERE domain = $1 AND day = $2`,
      [domain, day],
    );
    const sts = await d.pool.query<{ policy_id: string; body: string; mx: string[] }>('SELECT policy_id, body, mx FROM mta_sts_policies WHERE domain = $1', [domain]);
    const stsPolicies = new Map(sts.rows.map((p) => [p.policy_id, { lines: p.body.split(/\r?\n/).filter(Boolean), mx: p.mx }]));
    const reportId = `${day}.${newMessageId()}@${d.submitter}`;
    const report = buildTlsReport({ organization: d.organization, contact: d.contact, reportId, domain, day, outcomes: rows.rows, stsPolicies });
    const gz = gzipSync(JSON.stringify(report));
    const errors: string[] = [];
    const mailto = rua.filter((u) => /^mailto:/i.test(u)).map((u) => decodeURIComponent(u.slice(7)).replace(/\?.*$/, ''));
    if (mailto.length) {
      if (!d.from) errors.push('mailto: TLSRPT_FROM is unset');
      else {
        const id = newMessageId();
        const raw = tlsReportMessage({ from: d.from, to: mailto, submitter: d.submitter, domain, reportId, day, gzipped: gz, messageId: `${id}@${d.submitter}`, date: new Date() });
        await insertMessage(d.pool, { id, raw, mailFrom: d.from, recipients: mailto });
        // Routing's reconciler adds the job if this fails: the message is committed.
        await d.route.add({ messageId: id }).catch((err: Error) => d.logger.warn({ event: EVENTS.tlsReportFailed, domain, day, err: err.message }, 'route-message job not added; the reconciler will'));
      }
    }
    for (const url of rua.filter((u) => /^https:/i.test(u))) {
      try {
        await post(url, gz, d.httpTimeoutMs, d.ca);
      } catch (err) {
        errors.push(`${url}: ${(err as Error).message}`);
      }
    }
    return { domain, day, reportId, rua, errors };
  }

  /** One pass: every finished day not yet reported. Null when another replica runs one. */
  async function pass(): Promise<SentReport[] | null> {
    return withAdvisoryLock(d.pool, LOCKS.tlsReports, async (c) => {
      const due = await c.query<{ domain: string; day: string }>(
        `SELECT DISTINCT o.domain, to_char(o.day, 'YYYY-MM-DD') AS day FROM tls_outcomes o
          WHERE o.day < (now() AT TIME ZONE 'UTC')::date
            AND NOT EXISTS (SELECT 1 FROM tls_rpt_sent s WHERE s.domain = o.domain AND s.day = o.day)
          ORDER BY day, domain LIMIT $1`,
        [d.batch],
      );
      const sent: SentReport[] = [];
      for (const { domain, day } of due.rows) {
        const txt = await d.dns.txt(`_smtp._tls.${domain}`);
        if (!txt.ok && txt.kind === 'temporary') continue; // ask again next pass
        const policy = txt.ok ? parseTlsRptTxt(txt.value) : null;
        const claimed = await c.query(`INSERT INTO tls_rpt_sent (domain, day, report_id, rua) VALUES ($1, $2, '', $3) ON CONFLICT DO NOTHING`, [domain, day, policy?.rua ?? []]);
        if (claimed.rowCount === 0) continue;
        if (!policy) {
          await c.query('UPDATE tls_rpt_sent SET sent_at = now() WHERE domain = $1 AND day = $2', [domain, day]);
          continue;
        }
        const r = await sendOne(domain, day, policy.rua);
        await c.query('UPDATE tls_rpt_sent SET report_id = $3, sent_at = now(), last_error = $4 WHERE domain = $1 AND day = $2', [domain, day, r.reportId, r.errors.join('; ') || null]);
        for (const e of r.errors) d.logger.warn({ event: EVENTS.tlsReportFailed, domain, day, error: e }, 'TLS-RPT report not delivered');
        d.logger.info({ event: EVENTS.tlsReportSent, domain, day, reportId: r.reportId, rua: r.rua }, 'TLS-RPT report sent');
        sent.push(r);
      }
      return sent;
    });
  }

  const periodic = createPeriodic(pass, {
    intervalMs: d.intervalMs,
    onError: (err) => d.logger.error({ event: EVENTS.tlsReportPassFailed, err }, 'TLS-RPT pass failed'),
  });
  return { pass, start: () => periodic.start(), stop: () => periodic.stop() };
}
