// /v1, the management API, as an encapsulated Fastify plugin. It owns authentication (the
// bootstrap token or an API key, the failed-authentication limit, scopes), each request's
// principal and its audit entry; none of it applies outside (/docs).
import type { FastifyPluginAsync } from 'fastify';
import { KEY_PREFIX } from '../adapters/keys.ts';
import type { AuthLimiter } from '../adapters/rate-limit.ts';
import { ApiError } from '../errors.ts';
import { EVENTS } from '../events.ts';
import { permits, type Principal } from '../policy/scope.ts';
import { auditEntry } from './audit.ts';
import { bearerChecker, challenge, parseBearer } from './auth.ts';
import { notFoundHandler } from './error-handler.ts';
import { aliasRoutes } from './routes/aliases.ts';
import { auditRoutes } from './routes/audit.ts';
import type { ApiDeps } from './routes/context.ts';
import { domainRoutes } from './routes/domains.ts';
import { dkimRoutes } from './routes/dkim.ts';
import { keyRoutes } from './routes/keys.ts';
import { mailboxRoutes } from './routes/mailboxes.ts';
import { messageRoutes } from './routes/messages.ts';
import { queueRoutes } from './routes/queue.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { tlsRoutes } from './routes/tls.ts';
import { overviewRoutes, type OverviewDeps } from './routes/overview.ts';
import { messageHeaderRoutes } from './routes/message-headers.ts';
import { webhookTestRoutes } from './routes/webhook-test.ts';
import { messageReportRoutes } from './routes/message-report.ts';
import { abuseRoutes } from './routes/abuse.ts';
import type { AbuseStatsReport } from '../adapters/abuse-stats.ts';
import type { AbuseListStore } from '../adapters/abuse-lists.ts';
import type { SpamTrainer } from '../adapters/spam-trainer.ts';
import type { WebhookTester } from '../adapters/webhook-test.ts';
import { sessionAuthenticator, sessionRoutes, type ConsoleSessions } from './session.ts';

export interface V1Deps extends ApiDeps {
  /** ADMIN_TOKEN, the bootstrap credential. */
  token: string;
  limiter: AuthLimiter;
  /** The web console's sessions and overview. */
  sessions: ConsoleSessions;
  overview: OverviewDeps;
  /** The first bytes of a stored message (its raw header). */
  messageStart: (id: string) => Promise<Buffer | null>;
  webhookTester: WebhookTester;
  /** rspamd's controller (RSPAMD_CONTROLLER_URL), or null. */
  spamTrainer?: SpamTrainer | null;
  /** The allowlist/blocklist and the refused attempts (PostgreSQL). */
  abuseLists: AbuseListStore;
  /** Refusal counts smtp-ingress keeps in Redis. */
  abuseStats?: ((now: number) => Promise<AbuseStatsReport>) | null;
}

const BOOTSTRAP: Principal = { actor: 'bootstrap', keyId: null, scope: 'admin', domains: [] };

export const v1Api: FastifyPluginAsync<V1Deps> = async (api, deps) => {
  const check = bearerChecker(deps.token);
  const consoleSession = sessionAuthenticator(deps.sessions);
  api.decorateRequest('principal', null);
  api.decorateRequest('consoleSession', null);
  api.decorateRequest('audit', null);

  api.addHook('onRequest', async (req, reply) => {
    const wait = await deps.limiter.blockedFor(req.ip);
    if (wait > 0) {
      void reply.header('retry-after', String(wait));
      throw new ApiError('rateLimited', `too many failed authentications from this address; retry in ${wait} s`);
    }
    // A console session cookie (when there is no Authorization header), else the bearer token.
    const session = await consoleSession(req, reply);
    let verdict = session ? 'ok' : check(req.headers.authorization);
    if (session) req.principal = session;
    else if (verdict === 'ok') req.principal = BOOTSTRAP;
    else if (verdict === 'invalid') {
      const token = parseBearer(req.headers.authorization);
      const p = token?.startsWith(KEY_PREFIX) ? await deps.keys.authenticate(token) : null;
      if (p) {
        req.principal = p;
        verdict = 'ok';
      }
    }
    if (verdict !== 'ok') {
      if (verdict === 'invalid') await deps.limiter.fail(req.ip);
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
  api.addHook('onSend', async (req, reply) => {
    const e = auditEntry(req, reply.statusCode);
    if (!e) return;
    try {
      await deps.auditLog.write(e);
    } catch (err) {
      req.log.error({ event: EVENTS.auditWriteFailed, err, action: e.action, actor: e.actor }, 'audit entry not written');
    }
  });

  // Unknown /v1 routes pass the hooks above first: no route discovery without a token.
  api.setNotFoundHandler(notFoundHandler);

  domainRoutes(api, deps);
  dkimRoutes(api, deps);
  tlsRoutes(api, deps);
  mailboxRoutes(api, deps);
  aliasRoutes(api, deps);
  messageRoutes(api, deps);
  queueRoutes(api, deps);
  webhookRoutes(api, deps);
  keyRoutes(api, deps);
  auditRoutes(api, deps);
  sessionRoutes(api, deps.sessions);
  overviewRoutes(api, deps.overview);
  messageHeaderRoutes(api, { messages: deps.messages, headers: deps.messageStart });
  webhookTestRoutes(api, { tester: deps.webhookTester });
  messageReportRoutes(api, { messages: deps.messages, trainer: deps.spamTrainer ?? null });
  abuseRoutes(api, { stats: deps.abuseStats ?? null, lists: deps.abuseLists, defaultLimit: deps.defaultLimit });
};
