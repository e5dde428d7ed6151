// The Fastify instance: validation settings, auth, logging, metrics, errors, OpenAPI and
// the /v1 routes. Built without listening so tests and app.ts decide when to bind.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from '@hopmail/service-kit';
import { ApiError } from '../errors.ts';
import { KEY_PREFIX } from '../adapters/keys.ts';
import type { AuthLimiter } from '../adapters/rate-limit.ts';
import { permits, type Principal } from '../policy/scope.ts';
import { bearerChecker, challenge, parseBearer } from './auth.ts';
import { auditEntry } from './audit.ts';
import { errorHandler } from './error-handler.ts';
import type { HttpMetrics } from './metrics.ts';
import { aliasRoutes } from './routes/aliases.ts';
import type { RouteDeps } from './routes/context.ts';
import { domainRoutes } from './routes/domains.ts';
import { mailboxRoutes } from './routes/mailboxes.ts';
import { auditRoutes } from './routes/audit.ts';
import { keyRoutes } from './routes/keys.ts';
import { messageRoutes } from './routes/messages.ts';
import { queueRoutes } from './routes/queue.ts';
import { webhookRoutes } from './routes/webhooks.ts';

export interface ServerOptions extends RouteDeps {
  logger: Logger;
  token: string;
  bodyLimit: number;
  metrics: HttpMetrics;
  limiter: AuthLimiter;
}

const BOOTSTRAP: Principal = { actor: 'bootstrap', keyId: null, scope: 'admin', domains: [] };

const isPublic = (route: string | undefined) => route === '/docs' || (route?.startsWith('/docs/') ?? false);

export async function buildServer(o: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger,
    // One line per request from onResponse below, without headers or bodies.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: o.bodyLimit,
    exposeHeadRoutes: false,
    // A request that arrives while closing is still served (with Connection: close, below)
    // rather than refused with Fastify's own 503 body, which is not our error shape.
    return503OnClosing: false,
    ajv: {
      customOptions: {
        // Unknown properties are an error, not silently dropped (Fastify's default).
        removeAdditional: false,
        // Bodies are JSON and must carry the declared types; query strings are coerced by
        // the preValidation hook below, which knows they only ever hold strings.
        coerceTypes: false,
        allErrors: false,
      },
    },
  }) as unknown as FastifyInstance;

  // Only JSON bodies: without this, Fastify's built-in text/plain parser would turn a
  // non-JSON body into a confusing schema error instead of 415.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]!.slice(0, 200)}` } });
  });

  const check = bearerChecker(o.token);
  app.decorateRequest('principal', null);
  app.decorateRequest('audit', null);
  app.addHook('onRequest', async (req, reply) => {
    if (isPublic(req.routeOptions.url)) return;
    const wait = await o.limiter.blockedFor(req.ip);
    if (wait > 0) {
      void reply.header('retry-after', String(wait));
      throw new ApiError('rate_limited', `too many failed authentications from this address; retry in ${wait} s`);
    }
    let verdict = check(req.headers.authorization);
    if (verdict === 'ok') req.principal = BOOTSTRAP;
    else if (verdict === 'invalid') {
      const token = parseBearer(req.headers.authorization);
      const p = token?.startsWith(KEY_PREFIX) ? await o.keys.authenticate(token) : null;
      if (p) {
        req.principal = p;
        verdict = 'ok';
      }
    }
    if (verdict !== 'ok') {
      if (verdict === 'invalid') await o.limiter.fail(req.ip);
      void reply.header('www-authenticate', challenge(verdict));
      throw new ApiError('unauthorized', verdict === 'missing' ? 'Authorization: Bearer <ADMIN_TOKEN> required' : 'invalid bearer token');
    }
    if (req.routeOptions.url === undefined) return; // 404 follows
    const access = req.routeOptions.config.access ?? (req.method === 'GET' ? 'read' : 'write');
    if (!permits(req.principal!, access)) {
      throw new ApiError('forbidden', `a ${req.principal!.scope} key may not ${req.method === 'GET' ? 'read this' : 'change anything here'}`);
    }
  });

  // Every change (and every refused attempt at one) is in the audit log before the client
  // hears back, so a 2xx seen means an audit row exists.
  app.addHook('onSend', async (req, reply) => {
    const e = auditEntry(req, reply.statusCode);
    if (!e) return;
    try {
      await o.auditLog.write(e);
    } catch (err) {
      req.log.error({ event: 'audit.write-failed', err, action: e.action, actor: e.actor }, 'audit entry not written');
    }
  });

  app.addHook('preValidation', async (req) => {
    const qs = req.routeOptions.schema?.querystring as { properties?: Record<string, { type?: string }> } | undefined;
    if (!qs?.properties || !req.query || typeof req.query !== 'object') return;
    const q = req.query as Record<string, unknown>;
    for (const [key, s] of Object.entries(qs.properties)) {
      const v = q[key];
      if (typeof v !== 'string') continue;
      if (s.type === 'integer' && /^-?\d{1,15}$/.test(v)) q[key] = Number(v);
      else if (s.type === 'boolean' && (v === 'true' || v === 'false')) q[key] = v === 'true';
    }
  });

  // While closing, tell keep-alive clients to reconnect (to another replica) next time.
  app.addHook('onSend', async (_req, reply) => {
    if (closing) void reply.header('connection', 'close');
  });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    o.metrics.observe(req.method, route, status, reply.elapsedTime / 1000);
    const line = { event: 'http.request', method: req.method, route, url: req.url.slice(0, 300), status, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (status >= 500) req.log.warn(line, 'request failed');
    else req.log.info(line, 'request');
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Hopmail admin API',
        version: '1.0.0',
        description:
          'Domains, mailboxes, aliases, message trace, queue control, webhooks, API keys and the audit log. Every /v1 route needs ' +
          '`Authorization: Bearer <ADMIN_TOKEN or API key>`. Errors are `{ "error": { "code", "message" } }`. Lists are paged with opaque cursors.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
      tags: [
        { name: 'domains' }, { name: 'mailboxes' }, { name: 'aliases' },
        { name: 'messages', description: 'search and trace' },
        { name: 'queue', description: 'queue control: list, retry, hold, release, delete' },
        { name: 'webhooks' }, { name: 'keys', description: 'API keys (admin only)' }, { name: 'audit' },
      ],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  domainRoutes(app, o);
  mailboxRoutes(app, o);
  aliasRoutes(app, o);
  messageRoutes(app, o);
  queueRoutes(app, o);
  webhookRoutes(app, o);
  keyRoutes(app, o);
  auditRoutes(app, o);
  return app;
}
