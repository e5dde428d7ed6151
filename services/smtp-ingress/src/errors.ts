// Coded errors of smtp-ingress (CONVENTIONS §6): our own failures, keyed by kind, each with
// the SMTP reply the client gets. All are temporary: never a 5xx for our own fault.
import { codedErrorClass, defineErrors } from '@hopmail/service-kit';
import { defer, type Refusal } from './policy/verdict.ts';

export const ERRORS = defineErrors({
  /** PostgreSQL refused or lost the message commit: nothing was stored, the client retries. */
  storeFailed: { code: 'smtp-ingress.store-failed', temporary: true, smtp: { code: 451, enhanced: '4.3.0', text: 'Temporary storage failure, try again later' } },
  /** A directory lookup (RCPT, sender or From: ownership) failed: the client retries. */
  lookupFailed: { code: 'smtp-ingress.lookup-failed', temporary: true, smtp: { code: 451, enhanced: '4.3.0', text: 'Temporary lookup failure, try again later' } },
  /** The password lookup failed (PostgreSQL unreachable): RFC 4954 §6's temporary failure, never a 535. */
  authLookupFailed: { code: 'smtp-ingress.auth-lookup-failed', temporary: true, smtp: { code: 454, enhanced: '4.7.0', text: 'Temporary authentication failure, try again later' } },
  /** Internal error in a hook. */
  internal: { code: 'smtp-ingress.internal', temporary: true, smtp: { code: 451, enhanced: '4.3.0', text: 'Local error in processing, try again later' } },
});

export type ErrorKind = keyof typeof ERRORS;

export class IngressError extends codedErrorClass('IngressError', ERRORS) {}

/** The verdict answering one of our own failures with its registered reply (`reason` labels metrics and logs). */
export function errorVerdict(kind: ErrorKind, reason: string): Refusal {
  const { code, enhanced, text } = ERRORS[kind].smtp;
  return defer(code, enhanced, text, reason);
}
