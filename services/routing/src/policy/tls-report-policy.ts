// Mail to the TLS-RPT report address (RFC 8460 §5.3), pure: which recipients are it, and what
// the report's fate does to their plans. The report itself is found and parsed by
// @hopmail/mail (tlsReportFromMessage, parseTlsReport) and stored by @hopmail/db
// (saveReceivedTlsReport), as admin-api's POST /tlsrpt does.
import { isTlsReportAddress } from '@hopmail/mail';
import type { PlannedRecipient, RecipientPlan } from './route-policy.ts';

export interface ReportAddressOptions {
  /** TLSRPT_LOCAL_PART */
  localPart: string;
  subaddressDelimiter: string;
}

/** What became of the report a message carried. */
export type ReportOutcome =
  | { kind: 'taken'; organization: string; reportId: string; domains: string[]; ours: string[] }
  | { kind: 'invalid'; reason: string };

/**
 * The recipients that are the report address of a local domain: unknown there (no mailbox,
 * no alias: routing takes the message alone), or resolved to a mailbox or alias of that
 * name (delivered as usual, and the report taken too).
 */
export function reportRecipients(planned: readonly PlannedRecipient[], o: ReportAddressOptions): PlannedRecipient[] {
  return planned.filter(
    (p) => (p.plan.kind === 'deliver' || (p.plan.kind === 'bounce' && p.plan.reason === 'unknown')) && isTlsReportAddress(p.address, o),
  );
}

// The sender's strings go into last_reply (the trace, the admin API): printable ASCII, bounded.
const clean = (s: string, max = 200) => {
  const t = s.replace(/[^\x20-\x7e]/g, '?');
  return t.length > max ? `${t.slice(0, max)}…` : t;
};

/** last_reply of a recipient whose report was taken or refused, in the shape of an SMTP reply. */
export function reportReply(o: ReportOutcome): string {
  if (o.kind === 'invalid') return `550 5.6.0 not a TLS-RPT report (RFC 8460): ${clean(o.reason)}; discarded`;
  const what = `TLS-RPT report <${clean(o.reportId)}> from ${clean(o.organization, 100)}`;
  if (o.ours.length > 0) return `250 2.0.0 ${what} taken for ${clean(o.ours.join(', '), 400)}`;
  return `250 2.0.0 ${what} taken, but about no domain of ours (${clean(o.domains.join(', ') || 'none', 400)}): not stored`;
}

/**
 * The plan of a report recipient once the report's fate is known: without a mailbox or
 * alias it is the report's alone (taken: delivered; no report: failed, discarded without a
 * DSN); with one it is delivered there as usual, its last_reply saying what became of the report.
 */
export function planWithReport(plan: RecipientPlan, o: ReportOutcome): RecipientPlan {
  if (plan.kind === 'deliver') {
    const note = o.kind === 'taken' ? reportReply(o) : `250 2.0.0 delivered; not a TLS-RPT report (${clean(o.reason)})`;
    return { ...plan, note };
  }
  return { kind: 'report', taken: o.kind === 'taken', reply: reportReply(o) };
}
