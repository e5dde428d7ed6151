// Console sign-in: the admin token or an API key, exchanged once for a session cookie
// (HttpOnly, SameSite=Strict, Secure over TLS, idle and absolute expiry; stored in PostgreSQL,
// so valid on every replica). A request with the cookie and no Authorization header is
// authenticated by it; every state change made that way must also carry X-CSRF-Token, the
// token the sign-in answer (and GET /v1/session) gave the page. Sign-in failures count
// against the same per-IP limit as bad bearer tokens.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { KEY_PREFIX, type KeyStore } from '../adapters/keys.ts';
import type { AuditStore } from '../adapters/audit.ts';
import type { AuthLimiter } from '../adapters/rate-limit.ts';
import { csrfTokenOf, type SessionStore } from '../adapters/sessions.ts';
import { ApiError } from '../errors.ts';
import { EVENTS } from '../events.ts';
import type { Principal } from '../policy/scope.ts';
import { bearerChecker } from './auth.ts';
import { bodyErrors, errors, noContent } from './schemas.ts';

export const SESSION_COOKIE = 'hopmail_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface ConsoleSessions {
  store: SessionStore;
  /** CONSOLE_COOKIE_SECURE: 'auto' marks the cookie Secure when the request came over TLS. */
  secure: 'auto' | 'always' | 'never';
  idleS: number;
}

export interface SessionLoginDeps {
  sessions: ConsoleSessions;
  /** ADMIN_TOKEN */
  token: string;
  keys: KeyStore;
  limiter: AuthLimiter;
  auditLog: AuditStore;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set when the request was authenticated by the console's cookie. */
    consoleSession: { cookie: string; expiresAt: Date } | null;
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function cookieOptions(req: FastifyRequest, sessions: ConsoleSessions, maxAgeS: number) {
  const secure = sessions.secure === 'always' || (sessions.secure === 'auto' && req.protocol === 'https');
  return { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge: maxAgeS } as const;
}

/** Same answer whatever was wrong with the cookie; the page goes back to sign-in. */
function expired(reply: FastifyReply): ApiError {
  void reply.clearCookie(SESSION_COOKIE, { path: '/' });
  void reply.header('www-authenticate', 'Bearer realm="hopmail-admin"');
  return new ApiError('unauthorized', 'your session has expired or was signed out; sign in again');
}

/**
 * For /v1's authentication hook: the principal of the request's session cookie, or null when
 * there is none to use (no cookie, or an Authorization header, which always wins). Throws 401
 * for a dead session and 403 for a state change without the session's CSRF token.
 */
export function sessionAuthenticator(sessions: ConsoleSessions): (req: FastifyRequest, reply: FastifyReply) => Promise<Principal | null> {
  return async (req, reply) => {
    const cookie = req.cookies[SESSION_COOKIE];
    if (req.headers.authorization || !cookie) return null;
    const s = await sessions.store.lookup(cookie);
    if (s === 'expired' || s === 'unknown') throw expired(reply);
    if (!SAFE_METHODS.has(req.method) && req.headers[CSRF_HEADER] !== csrfTokenOf(cookie)) {
      throw new ApiError('forbidden', 'missing or wrong X-CSRF-Token: a change made with the console session must carry the token the sign-in gave');
    }
    req.consoleSession = { cookie, expiresAt: s.expiresAt };
    return s.principal;
  };
}

const sessionBody = {
  type: 'object',
  required: ['actor', 'scope', 'domains', 'via', 'csrfToken', 'expiresAt', 'idleSeconds'],
  additionalProperties: false,
  properties: {
    actor: { type: 'string', description: "'bootstrap' (ADMIN_TOKEN) or 'key:<id>'" },
    scope: { type: 'string', enum: ['admin', 'read-only', 'domain-admin'] },
    domains: { type: 'array', items: { type: 'string' }, description: 'the domains of a domain-admin key' },
    via: { type: 'string', enum: ['session', 'bearer'] },
    csrfToken: { type: ['string', 'null'], description: 'send as X-CSRF-Token with every change made with the session cookie; null for bearer requests' },
    expiresAt: { type: ['string', 'null'], format: 'date-time', description: 'absolute end of the session' },
    idleSeconds: { type: 'integer', description: 'the session ends after this long without a request' },
  },
} as const;

function describe(p: Principal, via: 'session' | 'bearer', session: { cookie: string; expiresAt: Date } | null, idleS: number) {
  return { actor: p.actor, scope: p.scope, domains: [...p.domains], via, csrfToken: session ? csrfTokenOf(session.cookie) : null, expiresAt: session?.expiresAt.toISOString() ?? null, idleSeconds: idleS };
}

/** POST /v1/session: outside /v1's bearer authentication, since it is where a browser gets its credential. */
export const sessionLogin: FastifyPluginAsync<SessionLoginDeps> = async (app, deps) => {
  const check = bearerChecker(deps.token);
  app.post<{ Body: { token: string } }>(
    '/session',
    {
      schema: {
        tags: ['session'],
        summary: 'Sign in to the console: exchange the admin token or an API key for a session cookie',
        description:
          `Sets the ${SESSION_COOKIE} cookie (HttpOnly, SameSite=Strict, Secure over TLS). Requests with the cookie and no Authorization header are ` +
          `authenticated by it; changes must also send the returned csrfToken as ${CSRF_HEADER}. Failed sign-ins count against the per-address limit of failed authentications.`,
        security: [],
        body: {
          type: 'object',
          required: ['token'],
          additionalProperties: false,
          properties: { token: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[\\x21-\\x7e]+$', writeOnly: true, description: 'ADMIN_TOKEN or an API key (hmk_…)' } },
        },
        response: { 201: sessionBody, ...errors(...bodyErrors) },
      },
    },
    async (req, reply) => {
      const wait = await deps.limiter.blockedFor(req.ip);
      if (wait > 0) {
        void reply.header('retry-after', String(wait));
        throw new ApiError('rateLimited', `too many failed authentications from this address; retry in ${wait} s`);
      }
      const t = req.body.token;
      const principal: Principal | null =
        check(`Bearer ${t}`) === 'ok' ? { actor: 'bootstrap', keyId: null, scope: 'admin', domains: [] } : t.startsWith(KEY_PREFIX) ? await deps.keys.authenticate(t) : null;
      if (!principal) {
        await deps.limiter.fail(req.ip);
        throw new ApiError('unauthorized', 'that is neither the admin token nor a live API key');
      }
      const s = await deps.sessions.store.create(principal, req.ip);
      void reply.setCookie(SESSION_COOKIE, s.cookie, cookieOptions(req, deps.sessions, Math.max(1, Math.round((s.expiresAt.getTime() - Date.now()) / 1000))));
      try {
        await deps.auditLog.write({ actor: principal.actor, keyId: principal.keyId, action: 'session.create', target: null, status: 201, requestId: String(req.id), remoteIp: req.ip, details: {} });
      } catch (err) {
        req.log.error({ event: EVENTS.auditWriteFailed, err, action: 'session.create', actor: principal.actor }, 'audit entry not written');
      }
      req.log.info({ event: EVENTS.sessionCreated, actor: principal.actor, scope: principal.scope }, 'console session started');
      return reply.code(201).send(describe(principal, 'session', s, deps.sessions.idleS));
    },
  );
};

/** GET and DELETE /v1/session, inside /v1 (authenticated like every route there). */
export function sessionRoutes(app: FastifyInstance, sessions: ConsoleSessions): void {
  app.get(
    '/session',
    { schema: { tags: ['session'], summary: 'Who is signed in: actor, scope, domains, and the CSRF token of a console session', response: { 200: sessionBody, ...errors() } } },
    async (req) => describe(req.principal!, req.consoleSession ? 'session' : 'bearer', req.consoleSession, sessions.idleS),
  );

  app.delete(
    '/session',
    {
      // Any principal may end its own session, a read-only one too.
      config: { access: 'read', action: 'session.delete' },
      schema: { tags: ['session'], summary: 'Sign out: ends the console session and clears its cookie', response: { 204: noContent, ...errors() } },
    },
    async (req, reply) => {
      if (req.consoleSession) await sessions.store.delete(req.consoleSession.cookie);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.code(204).send();
    },
  );
}
