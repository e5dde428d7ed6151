// Log event codes of the housekeeper (CONVENTIONS §7); the README's DIAGNOSTICS lists them.
import { defineEvents } from '@hopmail/service-kit';

export const EVENTS = defineEvents('housekeeper', {
  retentionPruned: 'housekeeper.retention-pruned',
  retentionFailed: 'housekeeper.retention-failed',
  publishFailed: 'housekeeper.publish-failed',
  publishRecovered: 'housekeeper.publish-recovered',
  streamReadFailed: 'housekeeper.stream-read-failed',
  streamReaderStopped: 'housekeeper.stream-reader-stopped',
  webhookClaimFailed: 'housekeeper.webhook-claim-failed',
  webhookDeliveryFailed: 'housekeeper.webhook-delivery-failed',
  webhookDisabled: 'housekeeper.webhook-disabled',
  webhookSendError: 'housekeeper.webhook-send-error',
  queueSampleFailed: 'housekeeper.queue-sample-failed',
  /** A TLS-RPT report was sent (to every rua of the domain that took it). */
  tlsReportSent: 'housekeeper.tls-report-sent',
  /** A TLS-RPT report could not be delivered to one of its rua addresses (no retry: the next day's report follows). */
  tlsReportFailed: 'housekeeper.tls-report-failed',
  /** A pass of the TLS-RPT sender failed (PostgreSQL); the next pass tries again. */
  tlsReportPassFailed: 'housekeeper.tls-report-pass-failed',
});
