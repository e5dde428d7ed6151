// Coded errors and event codes of smtp-ingress (CONVENTIONS §6, §7).
import { CodedError, type SmtpReply } from '@hopmail/service-kit';

export const ERRORS = {
  /** PostgreSQL refused or lost the message commit: nothing was stored, the client retries. */
  storeFailed: { code: 'smtp.store-failed', temporary: true, smtp: { code: 451, enhanced: '4.3.0', text: 'Temporary storage failure, try again later' } },
  /** A RCPT lookup (domains, mailboxes, aliases) failed: the client retries. */
  lookupFailed: { code: 'smtp.lookup-failed', temporary: true, smtp: { code: 451, enhanced: '4.3.0', text: 'Temporary lookup failure, try again later' } },
  /** Internal error in a hook: never 5xx for our own fault. */
  internal: { code: 'smtp.internal', temporary: true, smtp: { code: 451, enhanced: '4.3.0', text: 'Local error in processing, try again later' } },
} as const satisfies Record<string, { code: string; temporary: boolean; smtp: SmtpReply }>;

export class IngressError extends CodedError {
  constructor(kind: keyof typeof ERRORS, message: string, cause?: unknown) {
    const e = ERRORS[kind];
    super(e.code, message, { smtp: e.smtp, temporary: e.temporary, cause });
    this.name = 'IngressError';
  }
}

/** Every `event` value this service logs; the README's DIAGNOSTICS section lists them. */
export const EVENTS = {
  listening: 'smtp.listening',
  connect: 'smtp.connect',
  connectRefused: 'smtp.connect-refused',
  disconnect: 'smtp.disconnect',
  mailRejected: 'smtp.mail-rejected',
  rcptRejected: 'smtp.rcpt-rejected',
  messageAccepted: 'smtp.message-accepted',
  messageRejected: 'smtp.message-rejected',
  messageAborted: 'smtp.message-aborted',
  lookupFailed: 'smtp.lookup-failed',
  storeFailed: 'smtp.store-failed',
  enqueueFailed: 'smtp.enqueue-failed',
  lineTooLong: 'smtp.line-too-long',
  tooManyBadCommands: 'smtp.too-many-bad-commands',
  sessionError: 'smtp.session-error',
  serverError: 'smtp.server-error',
  internal: 'smtp.internal',
  drain: 'smtp.drain',
  tls: 'smtp.tls',
  tlsFailed: 'smtp.tls-failed',
  authOk: 'smtp.auth-ok',
  authFailed: 'smtp.auth-failed',
  authLocked: 'smtp.auth-locked',
  authTooManyFailures: 'smtp.auth-too-many-failures',
  authInClear: 'smtp.auth-in-clear',
  authLimiterFailed: 'smtp.auth-limiter-failed',
  tlsDisabled: 'smtp.tls-disabled',
} as const;
