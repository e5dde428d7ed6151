// What inbound authentication decides (issue 12): from the results of SPF, DKIM, DMARC and
// ARC (adapters/mail-authenticator.ts, behind the Authenticator port) and the policy of the
// recipients' domains, whether the message is refused, deferred, or accepted — and marked
// when the author domain asks for quarantine. Pure: the tests are tables.

import { defer, reject, type Refusal } from './verdict.ts';

/** RFC 8601 §2.7 result values, as stored and shown. */
export type AuthResultValue = 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror' | 'policy';

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

/** What the checks found; stored as messages.auth_results (JSON) and shown by admin-api. */
export interface AuthResults {
  /** The authserv-id of the Authentication-Results: field (RFC 8601 §2.5). */
  authservId: string;
  /** The Authentication-Results: value (after the field name), folded, no final CRLF. */
  header: string;
  spf: { result: AuthResultValue; /** the domain checked: MAIL FROM's, or the HELO name for <> */ domain: string; identity: 'mailfrom' | 'helo'; reason?: string };
  dkim: {
    result: AuthResultValue;
    domain: string;
    selector: string;
    algorithm: string;
    /** d= aligns with the From: domain (DMARC's alignment mode). */
    aligned: boolean;
    reason?: string;
    /** l= left this many body bytes unsigned (they are treated as unsigned: README). */
    unsignedBytes?: number;
  }[];
  /** DKIM-Signature fields past INBOUND_DKIM_MAX_SIGNATURES, not verified (bounded work). */
  dkimSkipped: number;
  dmarc: {
    result: AuthResultValue;
    /** The author (From:) domain; null when the message has none. */
    domain: string | null;
    /** The policy the author domain publishes for this message (sp/np applied), null without a record. */
    policy: DmarcPolicy | null;
    reason?: string;
  };
  arc: { result: AuthResultValue; /** instance of the newest ARC set */ instance: number | null; reason?: string };
}

/** The policy for one message: the recipient domains' settings, strictest first. */
export interface InboundPolicy {
  /** Honour the author domain's DMARC p=reject / p=quarantine. */
  dmarcEnforce: boolean;
  /** Refuse SPF fail even when DMARC would not. */
  spfReject: boolean;
  /** The author (From:) domain is one of our local domains: its DMARC policy always holds. */
  authorLocal: boolean;
}

export type MailAuthDecision = { kind: 'accept'; quarantine: boolean } | { kind: 'refuse'; verdict: Refusal };

const temporary = (what: string, enhanced: string, why: string): MailAuthDecision => ({
  kind: 'refuse',
  verdict: defer(451, enhanced, `Temporary authentication failure (${what}${why ? `: ${why}` : ''}), try again later`, `auth-temperror-${what.split('=')[0]}`),
});

/**
 * Order: a temporary failure of any check defers (451 4.7.x, never 5xx: the answer may differ
 * once DNS answers); then DMARC p=reject (550 5.7.1); then SPF fail when the domain refuses
 * it (550 5.7.23, RFC 7372); DMARC p=quarantine — or any failing DMARC policy the recipient
 * domain does not enforce — is accepted and marked.
 */
export function mailAuthPolicy(results: AuthResults, policy: InboundPolicy): MailAuthDecision {
  if (results.spf.result === 'temperror') return temporary(`spf=temperror`, '4.7.24', results.spf.reason ?? '');
  const dkimTemp = results.dkim.find((d) => d.result === 'temperror');
  if (dkimTemp) return temporary('dkim=temperror', '4.7.5', `d=${dkimTemp.domain} s=${dkimTemp.selector}`);
  if (results.dmarc.result === 'temperror') return temporary('dmarc=temperror', '4.7.0', results.dmarc.domain ?? '');
  if (results.arc.result === 'temperror') return temporary('arc=temperror', '4.7.0', results.arc.reason ?? '');

  const { dmarc } = results;
  const dmarcFailed = dmarc.result === 'fail';
  const enforced = policy.dmarcEnforce || policy.authorLocal;
  if (dmarcFailed && dmarc.policy === 'reject' && enforced) {
    const why = dmarc.reason ? ` (${dmarc.reason})` : '';
    return {
      kind: 'refuse',
      verdict: reject(550, '5.7.1', `Message rejected: it fails the DMARC policy (p=reject) of ${dmarc.domain ?? 'its author domain'}${why}; spf=${results.spf.result} dkim=${dkimSummary(results)}`, 'dmarc-reject'),
    };
  }
  if (results.spf.result === 'fail' && policy.spfReject) {
    return { kind: 'refuse', verdict: reject(550, '5.7.23', `Message rejected: SPF of ${results.spf.domain} does not authorise this client (spf=fail)`, 'spf-fail') };
  }
  const quarantine = dmarcFailed && (dmarc.policy === 'quarantine' || (dmarc.policy === 'reject' && !enforced));
  return { kind: 'accept', quarantine };
}

function dkimSummary(results: AuthResults): string {
  if (!results.dkim.length) return 'none';
  return results.dkim.some((d) => d.result === 'pass') ? 'pass (not aligned)' : results.dkim[0]!.result;
}
