// Coded errors of the admin API (CONVENTIONS §6), keyed by kind. Each carries its HTTP status
// and the stable `code` of the `{ error: { code, message } }` body that clients switch on:
// those codes are the API's contract, so they keep their unprefixed values.
import { codedErrorClass, defineErrors } from '@hopmail/service-kit';

export const ERRORS = defineErrors({
  invalidRequest: { code: 'invalid_request', http: 400, temporary: false },
  invalidCursor: { code: 'invalid_cursor', http: 400, temporary: false },
  unauthorized: { code: 'unauthorized', http: 401, temporary: false },
  forbidden: { code: 'forbidden', http: 403, temporary: false },
  notFound: { code: 'not_found', http: 404, temporary: false },
  conflict: { code: 'conflict', http: 409, temporary: false },
  payloadTooLarge: { code: 'payload_too_large', http: 413, temporary: false },
  unsupportedMediaType: { code: 'unsupported_media_type', http: 415, temporary: false },
  rateLimited: { code: 'rate_limited', http: 429, temporary: true },
  internal: { code: 'internal', http: 500, temporary: true },
  unavailable: { code: 'unavailable', http: 503, temporary: true },
});

export type ErrorKind = keyof typeof ERRORS;

export class ApiError extends codedErrorClass('ApiError', ERRORS) {
  get status(): number {
    return ERRORS[this.kind].http;
  }
}

export const badRequest = (message: string) => new ApiError('invalidRequest', message);
export const notFound = (message: string) => new ApiError('notFound', message);
export const forbidden = (message: string) => new ApiError('forbidden', message);
export const conflict = (message: string) => new ApiError('conflict', message);

/** PostgreSQL SQLSTATEs and socket errors that mean "the database is not reachable now". */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  // 08xxx connection exception, 57P01..03 admin shutdown / crash shutdown / cannot connect now.
  if (/^08/.test(code) || /^57P0[1-3]$/.test(code)) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(msg);
}

/** 23505 unique_violation: the unique indexes on lower(name|address|source) fired. */
export const isUniqueViolation = (err: unknown) => (err as { code?: unknown } | null)?.code === '23505';
/** 23503 foreign_key_violation: the domain went away between our check and the insert. */
export const isForeignKeyViolation = (err: unknown) => (err as { code?: unknown } | null)?.code === '23503';
