// JSON schemas shared by the routes. Every string has a length cap and refuses control
// characters at the schema level; the route handlers then apply the mail-specific checks
// (address syntax, domain syntax) that a schema cannot express with a clear message.
import { ERRORS } from '../errors.ts';
import { NO_CONTROL_CHARS_PATTERN } from '../policy/names.ts';

export const text = (maxLength: number, extra: Record<string, unknown> = {}) =>
  ({ type: 'string', minLength: 1, maxLength, pattern: NO_CONTROL_CHARS_PATTERN, ...extra }) as const;

export const domainName = text(253, { description: 'domain name, stored lower case', examples: ['example.org'] });
export const address = text(254, { description: 'local@domain (RFC 5321); the domain is stored lower case', examples: ['alice@example.org'] });
export const aliasSource = text(254, { description: "'local@domain', or '@domain' for a catch-all", examples: ['postmaster@example.org', '@example.org'] });
export const aliasTarget = text(254, { description: "an address, or '@domain' to keep the local part and rewrite the domain", examples: ['bob@example.net', '@example.net'] });
export const password = text(1024, { minLength: 8, description: 'plain-text password, 8 to 1024 characters; stored only as an Argon2id hash, never returned', writeOnly: true });
export const quotaBytes = {
  type: 'integer',
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'mailbox quota in bytes; 0 means unlimited',
} as const;
export const timestamp = { type: 'string', format: 'date-time' } as const;

export const errorBody = {
  type: 'object',
  description: 'every error has this shape',
  required: ['error'],
  additionalProperties: false,
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      additionalProperties: false,
      properties: {
        code: { type: 'string', enum: Object.values(ERRORS).map((e) => e.code) },
        message: { type: 'string' },
      },
    },
  },
} as const;

/** Error responses every /v1 route may give. */
export function errors(...extra: number[]): Record<number, typeof errorBody> {
  const out: Record<number, typeof errorBody> = {};
  for (const s of new Set([400, 401, 403, 429, 500, 503, ...extra])) out[s] = { ...errorBody, description: describeStatus(s) } as typeof errorBody;
  return out;
}

function describeStatus(s: number): string {
  switch (s) {
    case 400: return 'invalid request (the message names the field)';
    case 401: return 'missing or wrong bearer token';
    case 403: return 'the key\'s scope does not allow this (read-only key, or a domain-admin key outside its domains)';
    case 429: return 'too many failed authentications from this address; see Retry-After';
    case 404: return 'no such resource';
    case 409: return 'conflicts with existing data';
    case 413: return 'request body too large';
    case 415: return 'request body is not application/json';
    case 500: return 'internal error (details are in the server log, not here)';
    case 503: return 'PostgreSQL (or, for queue statistics, Redis) unreachable; retry later';
    default: return 'error';
  }
}

/** Errors of routes that take a JSON body. */
export const bodyErrors = [413, 415] as const;

export const listQuery = (withDomain: boolean) =>
  ({
    type: 'object',
    additionalProperties: false,
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: 500, description: 'page size (1 to 500)' },
      cursor: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$', description: 'opaque; the nextCursor of the previous page' },
      ...(withDomain ? { domain: { ...domainName, description: 'only entries of this domain' } } : {}),
    },
  }) as const;

export const page = (item: object) =>
  ({
    type: 'object',
    required: ['items', 'nextCursor'],
    additionalProperties: false,
    properties: {
      items: { type: 'array', items: item },
      nextCursor: { type: ['string', 'null'], description: 'pass as ?cursor= for the next page; null on the last page' },
    },
  }) as const;

export const noContent = { type: 'null', description: 'done' } as const;
