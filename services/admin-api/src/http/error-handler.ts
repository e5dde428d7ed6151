// Every error leaves as `{ error: { code, message } }`. Fastify's own errors (validation,
// content type, body size, bad JSON) are translated here; anything unexpected is a 500
// whose details go to the log only.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, ERRORS, isDatabaseUnavailable, type ErrorKind } from '../errors.ts';
import { EVENTS } from '../events.ts';
import { NO_CONTROL_CHARS_PATTERN } from '../policy/names.ts';

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

const quote = (s: unknown) => JSON.stringify(String(s).slice(0, 64));

function fieldName(context: string, instancePath: string): string {
  let out = context;
  for (const part of instancePath.split('/').slice(1)) out += /^\d+$/.test(part) ? `[${part}]` : `.${part.replace(/~1/g, '/').replace(/~0/g, '~')}`;
  return out;
}

/** One clear sentence naming the field, from the first Ajv error. */
export function describeValidationError(context: string, e: AjvError): string {
  const field = fieldName(context, e.instancePath);
  const p = e.params;
  switch (e.keyword) {
    case 'required':
      return `${field}.${String(p.missingProperty)} is required`;
    case 'additionalProperties':
      return `${field} has an unknown property ${quote(p.additionalProperty)}`;
    case 'pattern':
      return p.pattern === NO_CONTROL_CHARS_PATTERN ? `${field} must not contain control characters (CR, LF, NUL, TAB…)` : `${field} has an invalid format`;
    case 'minLength':
      return Number(p.limit) <= 1 ? `${field} must not be empty` : `${field} must be at least ${String(p.limit)} characters`;
    case 'maxLength':
      return `${field} must be at most ${String(p.limit)} characters`;
    case 'minItems':
      return `${field} must contain at least ${String(p.limit)} item(s)`;
    case 'maxItems':
      return `${field} must contain at most ${String(p.limit)} items`;
    case 'minProperties':
      return `${field} must set at least one property`;
    case 'type':
      return `${field} must be of type ${String(p.type)}`;
    case 'enum':
      return `${field} must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'minimum':
    case 'maximum':
      return `${field} must be ${e.keyword === 'minimum' ? '>=' : '<='} ${String(p.limit)}`;
    case 'uniqueItems':
      return `${field} must not contain duplicates`;
    default:
      return `${field} ${e.message ?? 'is invalid'}`;
  }
}

const FASTIFY_CODES: Record<string, ErrorKind> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payloadTooLarge',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupportedMediaType',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalidRequest',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalidRequest',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalidRequest',
};

export function toApiError(err: FastifyError | Error): ApiError | null {
  if (err instanceof ApiError) return err;
  const fe = err as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fe.validation && fe.validation.length > 0) {
    return new ApiError('invalidRequest', describeValidationError(fe.validationContext ?? 'request', fe.validation[0]!));
  }
  const mapped = typeof fe.code === 'string' ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped === 'payloadTooLarge') return new ApiError(mapped, 'request body too large');
  if (mapped === 'unsupportedMediaType') return new ApiError(mapped, 'request body must be application/json');
  if (mapped) return new ApiError(mapped, fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe instanceof SyntaxError ? 'body is not valid JSON' : fe.message);
  if (err instanceof SyntaxError && fe.statusCode === 400) return new ApiError('invalidRequest', 'body is not valid JSON');
  if (isDatabaseUnavailable(err)) return new ApiError('unavailable', 'the database is unreachable; retry later', err);
  // Other client errors Fastify raises itself (e.g. prototype poisoning) carry safe messages.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 && typeof fe.code === 'string' && fe.code.startsWith('FST_')) {
    return new ApiError('invalidRequest', fe.message);
  }
  return null;
}

export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const api = toApiError(err);
  if (!api) {
    // Stack and cause go to the log; the client learns only the request id to quote.
    req.log.error({ event: EVENTS.internalError, err, route: req.routeOptions.url }, 'unhandled error');
    void reply.code(ERRORS.internal.http).send({ error: { code: ERRORS.internal.code, message: `internal error (request ${req.id})` } });
    return;
  }
  if (api.kind === 'unavailable') {
    req.log.warn({ event: EVENTS.unavailable, err: api.cause, route: req.routeOptions.url }, api.message);
    void reply.header('retry-after', '5');
  }
  void reply.code(api.status).send({ error: { code: api.code, message: api.message } });
}

/** 404 in the error shape. Set at the root, and by the /v1 plugin for its prefix (after authentication). */
export function notFoundHandler(req: FastifyRequest, reply: FastifyReply): void {
  void reply.code(404).send({ error: { code: ERRORS.notFound.code, message: `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}` } });
}
