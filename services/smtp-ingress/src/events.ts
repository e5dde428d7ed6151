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
  /** A client talked before the greeting, or before the reply to EHLO/HELO (PIPELINING not offered yet): 421 4.7.0 (`test`: pregreet, pipelining). */
  earlyTalker: 'smtp-ingress.early-talker',
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
  postmasterRedirected: 'smtp-ingress.postmaster-redirected',
  /** RCPT to the TLS-RPT report address of a local domain that has no mailbox or alias of that name (routing takes the report). */
  tlsReportAccepted: 'smtp-ingress.tls-report-accepted',
  /** rspamd refused a message (reject, soft reject, greylist). */
  spamRejected: 'smtp-ingress.spam-rejected',
  /** rspamd down, slow or answering nonsense: the message was accepted unchecked or deferred (RSPAMD_FAIL_OPEN). */
  spamFilterUnavailable: 'smtp-ingress.spam-filter-unavailable',
  /** Authenticated submission rspamd rejected: committed with its recipients held, never relayed. */
  spamHeld: 'smtp-ingress.spam-held',
  /** A RCPT deferred by greylisting (first attempt or retry too early). */
  greylisted: 'smtp-ingress.greylisted',
  /** A RCPT not greylisted because its allowlisted sender domain's SPF passed (logged with the result). */
  greylistExempt: 'smtp-ingress.greylist-exempt',
  /** The greylist state in Redis did not answer: the RCPT was let through. */
  greylistFailed: 'smtp-ingress.greylist-failed',
  /** A RCPT refused because DNS blocklists name the client (`zones`, `score`). */
  dnsblBlocked: 'smtp-ingress.dnsbl-blocked',
  /** A DNS list failed or answered oddly (127.255.255.x: query refused); counted as not listed. */
  dnsblProblem: 'smtp-ingress.dnsbl-problem',
  /** A RCPT refused because the operator's blocklist names the client or the sender domain (`reason`: blocklist-client, blocklist-sender). */
  blocklisted: 'smtp-ingress.blocklisted',
  /** The allowlist/blocklist was (re)loaded (`entries`). */
  abuseLists: 'smtp-ingress.abuse-lists',
  /** The allowlist/blocklist could not be read from PostgreSQL: the lists last loaded stay in force. */
  abuseListsFailed: 'smtp-ingress.abuse-lists-failed',
  /** Refused attempts could not be written for the trace (PostgreSQL); they are still logged and counted. */
  refusalLogFailed: 'smtp-ingress.refusal-log-failed',
  /** A per-client rate limit refused a session, message or recipient (`kind`, `count`). */
  rateLimited: 'smtp-ingress.rate-limited',
  /** The rate counters in Redis did not answer: the limits were not applied. */
  rateLimiterFailed: 'smtp-ingress.rate-limiter-failed',
  /** At start: whether a content filter is configured. */
  contentFilter: 'smtp-ingress.content-filter',
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
