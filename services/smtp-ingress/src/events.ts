// Every `event` value smtp-ingress logs (CONVENTIONS §7); the README's DIAGNOSTICS lists them.
import { defineEvents } from '@hopmail/service-kit';

export const EVENTS = defineEvents('smtp-ingress', {
  listening: 'smtp-ingress.listening',
  connect: 'smtp-ingress.connect',
  connectRefused: 'smtp-ingress.connect-refused',
  disconnect: 'smtp-ingress.disconnect',
  mailRejected: 'smtp-ingress.mail-rejected',
  rcptRejected: 'smtp-ingress.rcpt-rejected',
  messageAccepted: 'smtp-ingress.message-accepted',
  messageRejected: 'smtp-ingress.message-rejected',
  messageAborted: 'smtp-ingress.message-aborted',
  lookupFailed: 'smtp-ingress.lookup-failed',
  storeFailed: 'smtp-ingress.store-failed',
  enqueueFailed: 'smtp-ingress.enqueue-failed',
  lineTooLong: 'smtp-ingress.line-too-long',
  tooManyBadCommands: 'smtp-ingress.too-many-bad-commands',
  sessionDeadline: 'smtp-ingress.session-deadline',
  sessionError: 'smtp-ingress.session-error',
  internal: 'smtp-ingress.internal',
  drain: 'smtp-ingress.drain',
  tls: 'smtp-ingress.tls',
  tlsFailed: 'smtp-ingress.tls-failed',
  tlsDisabled: 'smtp-ingress.tls-disabled',
  authOk: 'smtp-ingress.auth-ok',
  authFailed: 'smtp-ingress.auth-failed',
  authLocked: 'smtp-ingress.auth-locked',
  authTooManyFailures: 'smtp-ingress.auth-too-many-failures',
  authInClear: 'smtp-ingress.auth-in-clear',
  authLimiterFailed: 'smtp-ingress.auth-limiter-failed',
  /** RCPT TO a valid SRS address of ours: rewritten to the original sender (`to`). */
  srsReversed: 'smtp-ingress.srs-reversed',
  /** Outside production without SRS_SECRET: the public development secret is in use. */
  developmentSecrets: 'smtp-ingress.development-secrets',
  /** Inbound checks (SPF, DKIM, DMARC, ARC) of one message: results and what was decided (info). */
  mailAuth: 'smtp-ingress.mail-auth',
  /** A check could not finish (DNS, time limit): the client was told 451 4.7.x. */
  mailAuthTemperror: 'smtp-ingress.mail-auth-temperror',
  /** Authentication-Results: fields claiming our authserv-id were removed (forgeries). */
  forgedAuthResults: 'smtp-ingress.forged-auth-results',
  /** An authentication worker thread died; its messages got 451 and it was replaced. */
  mailAuthWorkerFailed: 'smtp-ingress.mail-auth-worker-failed',
});
