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
});
