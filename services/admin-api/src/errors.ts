// Coded errors of the admin API (CONVENTIONS §6). Each maps to one HTTP status and one
// stable `code` in the `{ error: { code, message } }` body that clients switch on.
import { CodedError } from '@hopmail/service-kit';

export const ERROR_CODES = {
  invalid_request: 400,
  invalid_cursor: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ApiError extends CodedError {
  declare readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, cause?: unknown) {
    super(code, message, { httpStatus: ERROR_CODES[code], temporary: code === 'unavailable', cause });
    this.name = 'ApiError';
  }
  get status(): number {
    return ERROR_CODES[this.code];
  }
}

export const badRequest = (message: string) => new ApiError('invalid_request', message);
export const notFound = (message: string) => new ApiError('not_found', message);
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
