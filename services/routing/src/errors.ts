// Coded errors of the routing service (CONVENTIONS §6). Each says whether a retry can help:
// permanent ones become UnrecoverableError. Anything uncoded (PostgreSQL or Redis down,
// a timeout) is temporary and rethrown so BullMQ retries with backoff.
import { CodedError } from '@hopmail/service-kit';

export const ERRORS = {
  /** The job names a message PostgreSQL does not have (deleted, or a forged job). */
  messageMissing: { code: 'route.message-missing', temporary: false },
} as const;

export type RoutingErrorCode = (typeof ERRORS)[keyof typeof ERRORS]['code'];

export class RoutingError extends CodedError {
  constructor(kind: keyof typeof ERRORS, message: string, cause?: unknown) {
    super(ERRORS[kind].code, message, { temporary: ERRORS[kind].temporary, cause });
    this.name = 'RoutingError';
  }
}

/** Permanent when the error says so; everything else (PostgreSQL or Redis down, timeouts) is retried. */
export function isPermanent(err: unknown): boolean {
  return err instanceof CodedError && !err.temporary;
}
