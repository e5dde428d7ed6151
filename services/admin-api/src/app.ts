import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Pool } from '@hopmail/db';
import { createProducer } from '@hopmail/queue';
import type { App, Logger, prom } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { AuditStore } from './adapters/audit.ts';
import { KeyStore } from './adapters/keys.ts';
import { MessageStore } from './adapters/messages.ts';
import { argon2idHasher, type PasswordHasher } from './adapters/password.ts';
import { QueueStore } from './adapters/queue.ts';
import { createAuthLimiter } from './adapters/rate-limit.ts';
import { Store } from './adapters/store.ts';
import { WebhookStore } from './adapters/webhooks.ts';
import type { Config } from './config.ts';
import { httpMetrics } from './http/metrics.ts';
import { buildServer } from './http/server.ts';
import { createEventPublisher } from './jobs/event-publisher.ts';
import { createHousekeeping } from './jobs/housekeeping.ts';
import { createWebhookDispatcher } from './jobs/webhook-dispatcher.ts';

export interface Deps {
  config: Config;
  logger: Logger;
  registry: prom.Registry;
  pool: Pool;
  /** Queues, rate limits, the event stream. */
  redis: Redis;
  /** Tests pass a cheaper hasher; production uses the configured Argon2id parameters. */
  hasher?: PasswordHasher;
}

export interface AdminApp extends App {
  /** Bound port, known after start(). */
  port(): number;
  server(): FastifyInstance;
  /** Publishes pending trace events to the stream now (tests). */
  publishEvents(): Promise<void>;
  /** One retention pass now (tests); null when another replica holds the lock. */
  prune(): Promise<{ messages: number; events: number; deliveries: number } | null>;
}

export function createApp(deps: Deps): AdminApp {
  const { config, logger } = deps;
  const prefix = config.REDIS_PREFIX;
  let server: FastifyInstance | undefined;
  const routeProducer = createProducer('route-message', deps.redis, prefix);
  const relayProducer = createProducer('deliver-remote', deps.redis, prefix);
  const webhooks = new WebhookStore(deps.pool);
  // Fail-fast connection for commands that run while a PostgreSQL transaction or a request is
  // open (auth-failure counters, the publisher's XADD): with Redis away they fail at once instead
  // of queueing, so no transaction is held open waiting for Redis.
  const fastRedis = deps.redis.duplicate({ maxRetriesPerRequest: 0, enableOfflineQueue: false });
  fastRedis.on('error', () => {}); // reported by readiness and by the callers' own warnings
  const publisher = createEventPublisher({ pool: deps.pool, redis: fastRedis, prefix, intervalMs: config.EVENTS_PUBLISH_INTERVAL_MS, maxLen: config.EVENTS_STREAM_MAXLEN, logger });
  const housekeeping = createHousekeeping({ pool: deps.pool, logger, intervalMs: config.HOUSEKEEPING_INTERVAL_MS, eventsDays: config.EVENTS_RETENTION_DAYS, deliveriesDays: config.WEBHOOK_DELIVERY_RETENTION_DAYS, messagesDays: config.MESSAGE_RETENTION_DAYS });
  // XREADGROUP BLOCK holds a connection; it gets its own so API requests never wait behind it.
  let streamRedis: Redis | undefined;
  let dispatcher: ReturnType<typeof createWebhookDispatcher> | undefined;
  return {
    async start() {
      // Count auth failures from the first request when Redis is there; never wait long for it.
      if (fastRedis.status !== 'ready') await Promise.race([once(fastRedis, 'ready'), new Promise((r) => setTimeout(r, 2000).unref())]);
      server = await buildServer({
        logger: deps.logger,
        token: config.ADMIN_TOKEN,
        bodyLimit: config.ADMIN_BODY_LIMIT,
        defaultLimit: config.ADMIN_LIST_DEFAULT_LIMIT,
        metrics: httpMetrics(deps.registry),
        limiter: createAuthLimiter(fastRedis, { prefix, limit: config.ADMIN_AUTH_FAIL_LIMIT, windowS: config.ADMIN_AUTH_FAIL_WINDOW_S, logger }),
        store: new Store(deps.pool),
        keys: new KeyStore(deps.pool),
        auditLog: new AuditStore(deps.pool),
        queue: new QueueStore(deps.pool),
        messages: new MessageStore(deps.pool),
        webhooks,
        routeProducer,
        relayProducer,
        bulkBatch: config.QUEUE_BULK_BATCH,
        webhookAllowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
        hasher: deps.hasher ?? argon2idHasher({ memoryKib: config.ARGON2_MEMORY_KIB, timeCost: config.ARGON2_TIME_COST, parallelism: config.ARGON2_PARALLELISM }),
      });
      if (config.WEBHOOK_DISPATCH) {
        streamRedis = deps.redis.duplicate();
        streamRedis.on('error', () => {}); // the reader logs its own failures
        dispatcher = createWebhookDispatcher({
          store: webhooks,
          redis: streamRedis,
          prefix,
          logger,
          pollMs: config.WEBHOOK_POLL_INTERVAL_MS,
          timeoutMs: config.WEBHOOK_TIMEOUT_MS,
          concurrency: config.WEBHOOK_CONCURRENCY,
          retry: { minMs: config.WEBHOOK_RETRY_MIN_MS, maxMs: config.WEBHOOK_RETRY_MAX_MS, maxAttempts: config.WEBHOOK_MAX_ATTEMPTS },
          disableAfter: config.WEBHOOK_DISABLE_AFTER,
          allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
        });
        dispatcher.start();
      }
      if (config.EVENTS_PUBLISH) publisher.start();
      housekeeping.start();
      await server.listen({ port: config.ADMIN_PORT, host: config.ADMIN_HOST });
      deps.logger.info({ event: 'http.listening', host: config.ADMIN_HOST, port: (server.server.address() as AddressInfo).port }, 'admin API listening');
    },
    async stop() {
      if (server) {
        // Stops accepting and lets in-flight requests finish; the pool is closed by runService
        // after. fastify.close() only drops connections idle at that instant: a keep-alive
        // connection whose request finishes later would hold close() open for the whole
        // keep-alive timeout, so sweep idle connections until it is done.
        const http = server.server;
        const sweep = setInterval(() => http.closeIdleConnections(), 50);
        try {
          await server.close();
        } finally {
          clearInterval(sweep);
        }
      }
      await publisher.stop();
      await housekeeping.stop();
      await dispatcher?.stop();
      fastRedis.disconnect();
      // Closing a BullMQ queue waits for Redis; with Redis away, do not let it hold shutdown.
      await Promise.race([Promise.all([routeProducer.close(), relayProducer.close()]), new Promise((r) => setTimeout(r, 2000).unref())]);
    },
    port() {
      if (!server) throw new Error('admin-api not started');
      return (server.server.address() as AddressInfo).port;
    },
    server() {
      if (!server) throw new Error('admin-api not started');
      return server;
    },
    publishEvents: () => publisher.drain(),
    prune: () => housekeeping.pass(),
  };
}
