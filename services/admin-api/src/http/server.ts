// The Fastify instance: validation settings, auth, logging, metrics, errors, OpenAPI and
// the /v1 routes. Built without listening so tests and app.ts decide when to bind.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from '@hopmail/service-kit';
import { ApiError } from '../errors.ts';
import { bearerChecker, challenge } from './auth.ts';
import { errorHandler } from './error-handler.ts';
import type { HttpMetrics } from './metrics.ts';
import { aliasRoutes } from './routes/aliases.ts';
import type { RouteDeps } from './routes/context.ts';
import { domainRoutes } from './routes/domains.ts';
import { mailboxRoutes } from './routes/mailboxes.ts';

export interface ServerOptions extends RouteDeps {
  logger: Logger;
  token: string;
  bodyLimit: number;
  metrics: HttpMetrics;
}

const isPublic = (route: string | undefined) => route === '/docs' || (route?.startsWith('/docs/') ?? false);

export async function buildServer(o: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger,
    // One line per request from onResponse below, without headers or bodies.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit: o.bodyLimit,
    exposeHeadRoutes: false,
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
  app.addHook('onRequest', async (req, reply) => {
    if (isPublic(req.routeOptions.url)) return;
    const verdict = check(req.headers.authorization);
    if (verdict === 'ok') return;
    void reply.header('www-authenticate', challenge(verdict));
    throw new ApiError('unauthorized', verdict === 'missing' ? 'Authorization: Bearer <ADMIN_TOKEN> required' : 'invalid bearer token');
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
        description: 'Domains, mailboxes and aliases. Every /v1 route needs `Authorization: Bearer <ADMIN_TOKEN>`. Errors are `{ "error": { "code", "message" } }`.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
      tags: [{ name: 'domains' }, { name: 'mailboxes' }, { name: 'aliases' }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  domainRoutes(app, o);
  mailboxRoutes(app, o);
  aliasRoutes(app, o);
  return app;
}
