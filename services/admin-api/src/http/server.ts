// The Fastify instance: validation settings, logging, metrics, errors, OpenAPI at /docs, and
// the /v1 plugin (which owns authentication). Built without listening: app.ts binds it, and
// tests that need no socket use inject().
import swagger from '@fastify/swagger';
import cookie from '@fastify/cookie';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';
import { errorHandler, notFoundHandler } from './error-handler.ts';
import type { HttpMetrics } from './metrics.ts';
import { v1Api, type V1Deps } from './v1.ts';
import { consolePages, consolePlugin, isPageRequest } from './console.ts';
import { sessionLogin } from './session.ts';
import { transportRoutes } from './transport.ts';
import { autoconfigPlugin, type AutoconfigDeps } from './autoconfig.ts';

export interface ServerDeps extends V1Deps {
  logger: Logger;
  /** ADMIN_BODY_LIMIT */
  bodyLimit: number;
  metrics: HttpMetrics;
  /** CONSOLE_DIR: the built web console. */
  consoleDir: string;
  /** Client auto-configuration (Thunderbird, Autodiscover, Apple profile); public routes. */
  autoconfig: AutoconfigDeps;
}

export function buildServer({ logger, bodyLimit, metrics, consoleDir, autoconfig, ...api }: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    // One line per request from onResponse below, without headers or bodies.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    bodyLimit,
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
  // Page addresses of the web console are answered with its index.html; anything else is 404.
  const pages = consolePages({ dir: consoleDir });
  app.setNotFoundHandler((req, reply) => (isPageRequest(req) ? pages.page(req, reply) : notFoundHandler(req, reply)));

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
    metrics.observe(req.method, route, status, reply.elapsedTime / 1000);
    const line = { event: EVENTS.request, method: req.method, route, url: req.url.slice(0, 300), status, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (status >= 500) req.log.warn(line, 'request failed');
    else req.log.info(line, 'request');
  });

  void app.register(swagger, {
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
        { name: 'domains', description: 'domains, and the DNS doctor' }, { name: 'dkim', description: 'DKIM keys of a domain: generate or import, activate, retire (private keys are never returned)' }, { name: 'mailboxes' }, { name: 'aliases' },
        { name: 'messages', description: 'search and trace' },
        { name: 'abuse', description: 'what smtp-ingress refused (DNSBL, greylisting, rate limits, spam)' },
        { name: 'queue', description: 'queue control: list, retry, hold, release, delete' },
        { name: 'webhooks' }, { name: 'keys', description: 'API keys (admin only)' }, { name: 'audit' },
        { name: 'session', description: 'web console sign-in (cookie + CSRF token)' }, { name: 'overview', description: "the web console's overview" },
      ],
    },
  });
  void app.register(swaggerUi, { routePrefix: '/docs' });
  // Registered after swagger, which collects the routes as they are added.
  void app.register(cookie);
  void app.register(v1Api, { prefix: '/v1', ...api });
  void app.register(sessionLogin, { prefix: '/v1', ...api });
  void app.register(transportRoutes, { tls: api.tls, doctor: api.doctor, tlsRptMaxBytes: api.tlsRptMaxBytes });
  void app.register(consolePlugin, { dir: consoleDir, pages });
  void app.register(autoconfigPlugin, autoconfig);
  return app;
}
