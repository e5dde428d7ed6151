// Every `event` code routing logs (CONVENTIONS §7); README DIAGNOSTICS lists them.
import { defineEvents } from '@hopmail/service-kit';
import { ERRORS } from './errors.ts';

export const EVENTS = defineEvents('routing', {
  routeDone: 'routing.route.done',
  relayEnqueued: 'routing.route.relay-enqueued',
  dsnEnqueueFailed: 'routing.route.dsn-enqueue-failed',
  recipientBounced: 'routing.recipient.bounced',
  /** A TLS-RPT report mailed to the report address was parsed and stored (`ours`: its policy domains that are ours; `stored`: those new). */
  tlsReportTaken: 'routing.tls-report.taken',
  /** Mail to the report address that is no TLS-RPT report (`reason`; never the body): discarded unless a mailbox or alias of that name takes it. */
  tlsReportInvalid: 'routing.tls-report.invalid',
  /** A well-formed report about no domain of ours: taken, stored nowhere. */
  tlsReportNotOurs: 'routing.tls-report.not-ours',
  /** Logged under the error's own code: a permanent failure, not retried. */
  messageMissing: ERRORS.messageMissing.code,
  jobRetry: 'routing.job.retry',
  jobFailed: 'routing.job.failed',
  workerError: 'routing.worker.error',
  reconcileRequeued: 'routing.reconcile.requeued',
  reconcileDone: 'routing.reconcile.done',
  reconcileSkipped: 'routing.reconcile.skipped',
  reconcileFailed: 'routing.reconcile.failed',
});
