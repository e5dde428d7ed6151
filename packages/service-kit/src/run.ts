import type { Logger } from 'pino';
import type client from 'prom-client';
import { startHealthServer, type ReadinessChecks } from './health.ts';

export interface App {
  /** Start intake: listen on sockets, start workers. */
  start(): Promise<void>;
  /** Stop intake and finish in-flight work (smtpServer.close(), worker.close()…). */
  stop(): Promise<void>;
}

export interface Resource {
  name: string;
  close(): Promise<unknown>;
}

export interface RunOptions {
  name: string;
  logger: Logger;
  config: { HEALTH_HOST: string; HEALTH_PORT: number; SHUTDOWN_TIMEOUT_MS: number };
  registry: client.Registry;
  checks: ReadinessChecks;
  app: App;
  /** Closed after the app stopped, in this order (queues, then Redis, then pg). */
  resources: Resource[];
}

/**
 * The skeleton every service's main.ts hands itself to (CONVENTIONS §1, §8): health
 * endpoints, start, and an ordered, bounded shutdown on SIGTERM/SIGINT. A second signal
 * or the deadline forces exit with status 1.
 */
export async function runService(options: RunOptions): Promise<void> {
  const { logger, config } = options;
  let stopping = false;

  process.on('uncaughtException', (err) => {
    logger.fatal({ event: 'process.uncaught', err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.error({ event: 'process.unhandled-rejection', err }, 'unhandled rejection');
  });

  const health = await startHealthServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT, registry: options.registry, checks: options.checks });

  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.warn({ event: 'shutdown.forced', signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    const deadline = setTimeout(() => {
      logger.error({ event: 'shutdown.deadline', timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown deadline passed, exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    logger.info({ event: 'shutdown.start', signal }, 'shutting down');
    health.setDraining();
    let failed = false;
    const step = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        logger.info({ event: 'shutdown.step', step: name }, `closed ${name}`);
      } catch (err) {
        failed = true;
        logger.error({ event: 'shutdown.step-failed', step: name, err }, `closing ${name} failed`);
      }
    };
    await step('intake', () => options.app.stop());
    for (const r of options.resources) await step(r.name, () => r.close());
    await step('health', () => health.close());
    logger.info({ event: 'shutdown.done' }, 'stopped');
    clearTimeout(deadline);
    // pino's async destination: flush before exit so the last lines are not lost.
    logger.flush(() => process.exit(failed ? 1 : 0));
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await options.app.start();
  } catch (err) {
    logger.fatal({ event: 'start.failed', err }, 'start failed');
    logger.flush(() => process.exit(1));
    return;
  }
  logger.info({ event: 'start.done', healthPort: health.port }, `${options.name} started`);
}

/**
 * The readiness checks and shutdown order of a service that uses PostgreSQL and Redis:
 * both must answer to be ready; Redis closes before PostgreSQL (queues flush, then the store).
 * Extra resources (closed first) go in `before`.
 */
export function postgresAndRedis(
  pool: { query(sql: string): Promise<unknown>; end(): Promise<void> },
  redis: { ping(): Promise<unknown>; quit(): Promise<unknown> },
  before: Resource[] = [],
): { checks: ReadinessChecks; resources: Resource[] } {
  return {
    checks: { postgres: () => pool.query('SELECT 1'), redis: () => redis.ping() },
    resources: [...before, { name: 'redis', close: () => redis.quit() }, { name: 'postgres', close: () => pool.end() }],
  };
}
