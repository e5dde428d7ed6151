// Coded errors of the routing service (CONVENTIONS §6). Each says whether a retry can help:
// permanent ones become UnrecoverableError. Anything uncoded (PostgreSQL or Redis down,
// a timeout) is temporary and rethrown so BullMQ retries with backoff.
import { codedErrorClass, defineErrors } from '@hopmail/service-kit';

export const ERRORS = defineErrors({
  /** The job names a message PostgreSQL does not have (deleted, or a forged job). */
  messageMissing: { code: 'routing.route.message-missing', temporary: false },
  /** A target mailbox was deleted since the quota cache saw it: the job takes the locking path, which bounces it. */
  mailboxGone: { code: 'routing.route.mailbox-gone', temporary: true },
});

export class RoutingError extends codedErrorClass('RoutingError', ERRORS) {}
