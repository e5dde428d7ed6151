import { CodedError } from '@hopmail/service-kit';

// Coded errors of the outbound relay (CONVENTIONS §6). Remote SMTP replies are not errors:
// they are classified (policy/classify.ts) and recorded per recipient.
export const ERR = {
  messageMissing: 'relay.message-missing',
} as const;

/** The message row disappeared (deleted by an operator) while being delivered: nothing to retry. */
export function messageMissing(messageId: string): CodedError {
  return new CodedError(ERR.messageMissing, `message ${messageId} no longer exists`, { temporary: false });
}
