// Coded errors of the outbound relay (CONVENTIONS §6). Remote SMTP replies are not errors:
// they are classified (policy/classify.ts) and recorded per recipient.
import { codedErrorClass, defineErrors } from '@hopmail/service-kit';

export const ERRORS = defineErrors({
  /** The message row disappeared (deleted by an operator) while being delivered: nothing to retry. */
  messageMissing: { code: 'outbound-relay.message-missing', temporary: false, message: 'the message no longer exists' },
});

export class RelayError extends codedErrorClass('RelayError', ERRORS) {}
