// The relay's log event codes (CONVENTIONS §7); README DIAGNOSTICS lists each one.
import { defineEvents } from '@hopmail/service-kit';

export const EVENTS = defineEvents('outbound-relay', {
  /** A recipient's new status after an attempt (one line per recipient). */
  delivered: 'outbound-relay.delivered',
  deferred: 'outbound-relay.deferred',
  bounced: 'outbound-relay.bounced',
  failed: 'outbound-relay.failed',
  failover: 'outbound-relay.failover',
  mxUnresolvable: 'outbound-relay.mx-unresolvable',
  throttled: 'outbound-relay.throttled',
  possibleDuplicate: 'outbound-relay.possible-duplicate',
  /** finish() could not add the send-dsn job; the scheduler's sweep (failures) or the next attempt (delays) will. */
  sendDsnEnqueueFailed: 'outbound-relay.send-dsn-enqueue-failed',
  dsnSent: 'outbound-relay.dsn-sent',
  dsnSuppressed: 'outbound-relay.dsn-suppressed',
  /** The DSN is committed but its route-message job could not be added; routing's reconciler will. */
  dsnEnqueueFailed: 'outbound-relay.dsn-enqueue-failed',
  schedulerTick: 'outbound-relay.scheduler-tick',
  schedulerFailed: 'outbound-relay.scheduler-failed',
  jobFailed: 'outbound-relay.job-failed',
  workerError: 'outbound-relay.worker-error',
  leaseReleaseFailed: 'outbound-relay.lease-release-failed',
  leaseRefreshFailed: 'outbound-relay.lease-refresh-failed',
  /** An active DKIM key does not decrypt (another DKIM_KEY_ENCRYPTION_KEY) or is damaged: mail goes without that signature. */
  dkimKeyUnusable: 'outbound-relay.dkim-key-unusable',
  /** ARC sealing of forwarded mail threw (DNS trouble validating an earlier chain): sent without a seal. */
  arcSealFailed: 'outbound-relay.arc-seal-failed',
  /** Outside production without DKIM_KEY_ENCRYPTION_KEY or SRS_SECRET: the public development values are in use. */
  developmentSecrets: 'outbound-relay.development-secrets',
  /** An MTA-STS policy was fetched and cached (new or changed id). */
  stsPolicyFetched: 'outbound-relay.sts-policy-fetched',
  /** An announced MTA-STS policy could not be fetched or parsed; a cached one is kept, else none applies. */
  stsPolicyFailed: 'outbound-relay.sts-policy-failed',
  /** MX hosts skipped because an enforced MTA-STS policy does not list them. */
  stsMxRefused: 'outbound-relay.sts-mx-refused',
  /** A session's TLS does not meet the destination's policy (enforced: the MX is skipped; testing: reported only). */
  tlsPolicyFailed: 'outbound-relay.tls-policy-failed',
  /** A TLS outcome could not be counted (PostgreSQL): the TLS-RPT report will miss it. */
  tlsOutcomeFailed: 'outbound-relay.tls-outcome-failed',
  /** A message with `TLS-Required: No` (RFC 8689 §5): MTA-STS is only reported, DANE not looked up, for it. */
  tlsRequiredNo: 'outbound-relay.tls-required-no',
  /** A TLSA look-up failed (not NXDOMAIN/NODATA) for an MX host whose addresses are DNSSEC-signed: the host is skipped (RFC 7672 §2.2.2). */
  daneLookupFailed: 'outbound-relay.dane-lookup-failed',
});
