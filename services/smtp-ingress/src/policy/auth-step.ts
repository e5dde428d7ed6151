// The inbound-authentication part of the DATA step (issue 12), for mail from the outside
// (MX listener, no AUTH): ask the Authenticator for the results, the InboundPolicies port for
// the recipient domains' settings, decide with mailAuthPolicy(), and on acceptance give the
// fields to put on top (Authentication-Results:, X-Spam-Flag: YES when quarantined) and the
// message with forged Authentication-Results: removed. Pure apart from the two ports.

import { errorVerdict } from '../errors.ts';
import { authResultsFields, removeOwnAuthResults } from '../protocol/auth-results.ts';
import type { Authenticator, InboundPolicies } from '../ports.ts';
import { mailAuthPolicy, type AuthResults } from './mail-auth-policy.ts';
import type { Refusal } from './verdict.ts';

export interface AuthStepInput {
  /** The message as received (without our Received: field). */
  body: Buffer;
  mailFrom: string;
  helo: string | null;
  remoteIp: string;
  recipients: readonly string[];
}

export type AuthStepOutcome =
  | { kind: 'accept'; results: AuthResults; quarantine: boolean; fields: Buffer; body: Buffer; forgedRemoved: number }
  | { kind: 'refuse'; verdict: Refusal; results: AuthResults; lookupFailure?: { address: string; error: unknown } };

export async function authStep(ports: { authenticator: Authenticator; policies: InboundPolicies }, input: AuthStepInput): Promise<AuthStepOutcome> {
  const results = await ports.authenticator.check({ raw: input.body, mailFrom: input.mailFrom, helo: input.helo, remoteIp: input.remoteIp });
  const domains = input.recipients.map((r) => r.slice(r.lastIndexOf('@') + 1));
  let policy;
  try {
    policy = await ports.policies.forMessage(domains, results.dmarc.domain);
  } catch (error) {
    return { kind: 'refuse', verdict: errorVerdict('lookupFailed', 'lookup-failed'), results, lookupFailure: { address: results.dmarc.domain ?? '', error } };
  }
  const decision = mailAuthPolicy(results, policy);
  if (decision.kind === 'refuse') return { kind: 'refuse', verdict: decision.verdict, results };
  const stripped = removeOwnAuthResults(input.body, ports.authenticator.authservId);
  return { kind: 'accept', results, quarantine: decision.quarantine, fields: authResultsFields(results.header, decision.quarantine), body: stripped.message, forgedRemoved: stripped.removed };
}
