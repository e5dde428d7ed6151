// Coded errors of the housekeeper (CONVENTIONS §6). A failed webhook POST is always tried
// again on the delivery's retry schedule; `temporary` says whether trying can help at all.
import { codedErrorClass, defineErrors } from '@hopmail/service-kit';

export const ERRORS = defineErrors({
  /** The receiver did not answer within WEBHOOK_TIMEOUT_MS. */
  webhookTimeout: { code: 'housekeeper.webhook-timeout', temporary: true },
  /** The receiver is, or resolves to, a non-public address and WEBHOOK_ALLOW_PRIVATE is off. */
  privateDestination: { code: 'housekeeper.private-destination', temporary: false },
});

export class HousekeeperError extends codedErrorClass('HousekeeperError', ERRORS) {}
