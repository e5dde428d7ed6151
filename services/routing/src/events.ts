// Every `event` code routing logs (CONVENTIONS §7); README DIAGNOSTICS lists them.
import { defineEvents } from '@hopmail/service-kit';
import { ERRORS } from './errors.ts';

export const EVENTS = defineEvents('routing', {
  routeDone: 'routing.route.done',
  relayEnqueued: 'routing.route.relay-enqueued',
  dsnEnqueueFailed: 'routing.route.dsn-enqueue-failed',
  recipientBounced: 'routing.recipient.bounced',
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
