import { PgDirectory, type Pool } from '@hopmail/db';
import { createProducer } from '@hopmail/queue';
import type { App } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createSmtpListener, type ListenerSpec, type SmtpListener } from './adapters/smtp-listener.ts';
import { createMessageStore } from './adapters/store.ts';
import type { Config } from './config.ts';
import { EVENTS } from './errors.ts';
import { createIngress } from './ingress.ts';
import { createMetrics, type Registry } from './metrics.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: Registry;
  pool: Pool;
  redis: Redis;
}

export interface IngressApp extends App {
  /** Bound port of each listener by name (`mx`), known after start(). */
  ports: Record<string, number>;
  ingress: ReturnType<typeof createIngress>;
}

/** Listeners this process runs; issue 5 adds `submission` (587) and `submissions` (465). */
export function listenerSpecs(config: Config): ListenerSpec[] {
  return [{ name: 'mx', role: 'mx', host: config.SMTP_HOST, port: config.SMTP_PORT }];
}

export function createApp(deps: AppDeps): IngressApp {
  const { config, logger } = deps;
  const producer = createProducer('route-message', deps.redis, config.REDIS_PREFIX);
  const directory = new PgDirectory(deps.pool, { localPartCaseSensitive: config.LOCAL_PART_CASE_SENSITIVE, cacheMs: config.DIRECTORY_CACHE_MS });
  const ingress = createIngress({
    options: {
      hostname: config.SMTP_HOSTNAME,
      maxConnectionsPerIp: config.SMTP_MAX_CONNECTIONS_PER_IP,
      maxMessageSize: config.SMTP_MAX_MESSAGE_SIZE,
      maxReceivedHeaders: config.SMTP_MAX_RECEIVED_HEADERS,
      resolve: {
        localPartCaseSensitive: config.LOCAL_PART_CASE_SENSITIVE,
        subaddressDelimiter: config.SUBADDRESS_DELIMITER,
        maxDepth: config.ALIAS_MAX_DEPTH,
        maxTargets: config.ALIAS_MAX_TARGETS,
      },
    },
    directory,
    store: createMessageStore({ pool: deps.pool, producer, enqueueTimeoutMs: config.SMTP_ENQUEUE_TIMEOUT_MS }),
    logger,
    metrics: createMetrics(deps.registry),
  });
  const limits = {
    hostname: config.SMTP_HOSTNAME,
    maxMessageSize: config.SMTP_MAX_MESSAGE_SIZE,
    maxRecipients: config.SMTP_MAX_RECIPIENTS,
    maxLineLength: config.SMTP_MAX_LINE_LENGTH,
    maxConnections: config.SMTP_MAX_CONNECTIONS,
    maxBadCommands: config.SMTP_MAX_BAD_COMMANDS,
    idleTimeoutMs: config.SMTP_IDLE_TIMEOUT_MS,
    closeTimeoutMs: config.SMTP_CLOSE_TIMEOUT_MS,
    reverseLookup: config.SMTP_REVERSE_LOOKUP,
  };
  const listeners: SmtpListener[] = listenerSpecs(config).map((spec) => createSmtpListener(spec, limits, ingress, logger));
  const ports: Record<string, number> = {};

  return {
    ports,
    ingress,
    async start() {
      const specs = listenerSpecs(config);
      for (const [i, l] of listeners.entries()) ports[specs[i]!.name] = await l.listen();
    },
    async stop() {
      ingress.setClosing();
      logger.info({ event: EVENTS.drain, sessions: ingress.sessions.size, timeoutMs: config.SMTP_CLOSE_TIMEOUT_MS }, 'closing listeners');
      await Promise.all(listeners.map((l) => l.close()));
      await producer.close();
    },
  };
}
