// Log event codes of admin-api (CONVENTIONS §7); the README's DIAGNOSTICS lists them. Audit
// actions (`mailbox.create`, `queue.retry`, …) are data of the audit log, not log events.
import { defineEvents } from '@hopmail/service-kit';

export const EVENTS = defineEvents('admin-api', {
  listening: 'admin-api.listening',
  request: 'admin-api.request',
  internalError: 'admin-api.internal-error',
  unavailable: 'admin-api.unavailable',
  authRateLimited: 'admin-api.auth-rate-limited',
  authLimitUnavailable: 'admin-api.auth-limit-unavailable',
  auditWriteFailed: 'admin-api.audit-write-failed',
  domainCreated: 'admin-api.domain-created',
  domainDeleted: 'admin-api.domain-deleted',
  /** A domain's inbound authentication policy changed (PATCH /v1/domains/{name}). */
  domainUpdated: 'admin-api.domain-updated',
  mailboxCreated: 'admin-api.mailbox-created',
  mailboxUpdated: 'admin-api.mailbox-updated',
  mailboxDeleted: 'admin-api.mailbox-deleted',
  aliasCreated: 'admin-api.alias-created',
  aliasDeleted: 'admin-api.alias-deleted',
  aliasUpdated: 'admin-api.alias-updated',
  keyCreated: 'admin-api.key-created',
  keyRevoked: 'admin-api.key-revoked',
  webhookCreated: 'admin-api.webhook-created',
  /** An allowlist/blocklist entry was added or removed (`action`, `list`, `value`). */
  abuseListChanged: 'admin-api.abuse-list-changed',
  queueRetry: 'admin-api.queue-retry',
  queueHold: 'admin-api.queue-hold',
  queueRelease: 'admin-api.queue-release',
  queueDelete: 'admin-api.queue-delete',
  queueWakeFailed: 'admin-api.queue-wake-failed',
  sessionCreated: 'admin-api.session-created',
  dkimKeyCreated: 'admin-api.dkim-key-created',
  dkimKeyActivated: 'admin-api.dkim-key-activated',
  dkimKeyRetired: 'admin-api.dkim-key-retired',
  dkimKeyDeleted: 'admin-api.dkim-key-deleted',
  tlsPolicySet: 'admin-api.tls-policy-set',
  tlsPolicyDeleted: 'admin-api.tls-policy-deleted',
  /** A TLS-RPT report arrived at POST /tlsrpt (`domains`: those of ours it was stored for). */
  tlsReportReceived: 'admin-api.tls-report-received',
  /** Outside production without DKIM_KEY_ENCRYPTION_KEY: DKIM private keys are encrypted with the public development key. */
  developmentSecrets: 'admin-api.development-secrets',
});
