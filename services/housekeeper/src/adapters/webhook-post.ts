// The webhook POST of @hopmail/events with the housekeeper's own errors: a destination that is
// not public, and a receiver that does not answer in time.
import { postWebhookWith, publicOnlyLookupWith, type WebhookPost, type WebhookPostErrors } from '@hopmail/events';
import { HousekeeperError } from '../errors.ts';

const errors: WebhookPostErrors = {
  privateDestination: (message) => new HousekeeperError('privateDestination', message),
  timeout: (message) => new HousekeeperError('webhookTimeout', message),
};

export const publicOnlyLookup = publicOnlyLookupWith(errors.privateDestination);

export type { WebhookPost };

/** POSTs the body; resolves with the HTTP status once the response head arrived. */
export async function postWebhook(post: WebhookPost): Promise<number> {
  return (await postWebhookWith(post, errors)).status;
}
