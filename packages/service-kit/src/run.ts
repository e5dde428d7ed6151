// The skeleton every service runs on (CONVENTIONS §1, §8), in the manner of Postfix's
// master(8)/single_server: `runService()` owns configuration (exit 78 on a bad one), the
// logger and metrics registry, the connections a service declares it needs, the health
// endpoints, start, and an ordered, bounded shutdown. A service's main.ts is one call.
import { ConfigError, loadConfig, z } from '@hopmail/config';
import { createPool, durabilityProblems, INDEX_PLANS, type Pool } from '@hopmail/db';
import { certificateStoreFromConfig, type CertificateStore, type TlsConfigValues } from '@hopmail/tls';
import type { Redis } from 'ioredis';
import type { DestinationStream, Logger } from 'pino';
import type client from 'prom-client';
import { createHeartbeat, type HeartbeatWriter } from './heartbeat.ts';
import { runChecks, startHealthServer, type ReadinessChecks } from './health.ts';
import { createLogger } from './logger.ts';
import { createRegistry } from './metrics.ts';
import { assertQueueRedis, failFastRedis, queueRedis } from './redis.ts';

/** Event codes the skeleton itself logs (every service's log carries them). */
export const KIT_EVENTS = {
  configInvalid: 'config.invalid',
  startDone: 'start.done',
  startFailed: 'start.failed',
  shutdownStart: 'shutdown.start',
  shutdownStep: 'shutdown.step',
  shutdownStepFailed: 'shutdown.step-failed',
  shutdownDone: 'shutdown.done',
  shutdownDeadline: 'shutdown.deadline',
  shutdownForced: 'shutdown.forced',
  uncaught: 'process.uncaught',
  unhandledRejection: 'process.unhandled-rejection',
  redisUnavailable: 'redis.unavailable',
  postgresNotDurable: 'postgres.not-durable',
} as const;

/** EX_CONFIG (sysexits.h): the configuration is wrong; restarting will not help. */
export const EXIT_CONFIG = 78;

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

/** What build() returns: the app, and optionally more readiness checks and resources of its own. */
export interface ServiceApp extends App {
  /** Extra /readyz checks, after the postgres and redis ones the skeleton adds. */
  checks?: ReadinessChecks;
  /** Closed after the app stopped and before Redis and PostgreSQL (queues, extra connections). */
  resources?: Resource[];
}

/**
 * Roles of the service's one Redis connection:
 * - `queue`: BullMQ's (commands wait while Redis is away); an evicting Redis is refused.
 * - `fail-fast`: limits and counters that must not be evicted (brute-force windows), but a
 *   command fails at once while Redis is away; an evicting Redis is refused.
 * - `cache`: fail-fast, never waited for, not a readiness condition (eviction loses nothing).
 */
export type RedisRole = 'queue' | 'fail-fast' | 'cache';

export interface ServiceNeeds {
  /** `'index-plans'`: the pool's connections run with INDEX_PLANS (@hopmail/db): prepared statements keep one plan of index lookups. */
  postgres?: boolean | 'index-plans';
  redis?: RedisRole;
  /**
   * A certificate store from TLS_CERT_FILE/TLS_KEY_FILE (null without one, development only).
   * A function gives the names of the development self-signed fallback.
   */
  certificates?: boolean | ((config: never) => { selfSignedNames?: string[] });
}

/** Settings the skeleton reads; every service's schema has them through commonConfig. */
export interface BaseConfig {
  NODE_ENV: 'development' | 'production' | 'test';
  LOG_LEVEL: string;
  HEALTH_HOST: string;
  HEALTH_PORT: number;
  SHUTDOWN_TIMEOUT_MS: number;
  DATABASE_URL: string;
  DATABASE_POOL_SIZE: number;
  REDIS_URL: string;
  REDIS_PREFIX: string;
}

// What build() gets: only the connections the service declared (a property it did not
// declare is absent from the type, not merely optional).
export type ServiceDeps<C, N extends ServiceNeeds> = { config: C; logger: Logger; registry: client.Registry } & (N extends { postgres: true | 'index-plans' } ? { pool: Pool } : unknown) &
  (N extends { redis: RedisRole } ? { redis: Redis } : unknown) &
  (N extends { certificates: infer T } ? (T extends false | undefined ? unknown : { certificates: CertificateStore | null }) : unknown);

export interface ServiceDefinition<S extends z.ZodObject, N extends ServiceNeeds> {
  /** Service name: logs, metrics label, PostgreSQL application_name. */
  name: string;
  schema: S;
  needs: N;
  build(deps: ServiceDeps<z.output<S>, N>): ServiceApp | Promise<ServiceApp>;
  /** Where log lines go; stdout, buffered, by default (stdoutDestination(true) where line order must be exact). */
  logDestination?: DestinationStream;
}

/**
 * Runs one service: config (every problem listed, exit 78), logger, registry, certificates
 * (unusable in production: exit 78), PostgreSQL pool, Redis connection (refused when it may
 * evict keys), then `build(deps)`, health endpoints, start, and shutdown on SIGTERM/SIGINT.
 */
export async function runService<S extends z.ZodObject, N extends ServiceNeeds>(def: ServiceDefinition<S, N>): Promise<void> {
  const { name, needs } = def;
  let config: z.output<S>;
  try {
    config = loadConfig(name, def.schema);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return exitConfig(name, err.problems, err.message);
  }
  const base = config as unknown as BaseConfig;
  const logger = createLogger(name, base.LOG_LEVEL, def.logDestination);
  const registry = createRegistry(name);
  const deps: Record<string, unknown> = { config, logger, registry };

  if (needs.certificates) {
    // Before any connection exists: production without a readable certificate is a
    // configuration error, not a crash to be restarted.
    const opts = typeof needs.certificates === 'function' ? (needs.certificates as (c: unknown) => { selfSignedNames?: string[] })(config) : {};
    try {
      deps.certificates = certificateStoreFromConfig(config as unknown as TlsConfigValues, logger, opts);
    } catch (err) {
      logger.fatal({ event: KIT_EVENTS.configInvalid, problems: [(err as Error).message] }, 'invalid TLS configuration');
      logger.flush(() => process.exit(EXIT_CONFIG));
      return;
    }
  }

  const checks: ReadinessChecks = {};
  const closeLast: Resource[] = [];
  let heartbeat: HeartbeatWriter | null = null;
  if (needs.postgres) {
    const pool = createPool(base.DATABASE_URL, base.DATABASE_POOL_SIZE, `hopmail-${name}`, needs.postgres === 'index-plans' ? INDEX_PLANS : {});
    deps.pool = pool;
    checks.postgres = () => pool.query('SELECT 1');
    closeLast.push({ name: 'postgres', close: () => pool.end() });
    warnIfNotDurable(pool, logger);
  }
  if (needs.redis) {
    const redis = needs.redis === 'queue' ? queueRedis(base.REDIS_URL) : failFastRedis(base.REDIS_URL);
    deps.redis = redis;
    if (needs.redis === 'queue') reportOutages(redis, logger);
    // The console's overview counts replicas by these; the entry goes just before Redis closes.
    heartbeat = createHeartbeat({ redis, prefix: base.REDIS_PREFIX, service: name, ready: async () => (await runChecks(checks)).ok });
    const hb = heartbeat;
    // Redis closes before PostgreSQL: queues flush, then the store.
    closeLast.unshift({ name: 'redis', close: async () => (await hb.stop(), await redis.quit()) });
    if (needs.redis !== 'cache') {
      checks.redis = () => redis.ping();
      // Queues and brute-force counters must not be evicted: refuse such a Redis before any work.
      try {
        await assertQueueRedis(redis, logger);
      } catch (err) {
        logger.fatal({ event: KIT_EVENTS.startFailed, err }, 'Redis is not usable');
        logger.flush(() => process.exit(1));
        return;
      }
    }
  }

  const app = await def.build(deps as ServiceDeps<z.output<S>, N>);
  await runLifecycle({
    name,
    logger,
    config: base,
    registry,
    checks: Object.assign(checks, app.checks),
    app,
    resources: [...(app.resources ?? []), ...closeLast],
    onStarted: () => heartbeat?.start(),
  });
}

/**
 * At start, in the background (PostgreSQL may not be up yet; start does not wait for it):
 * one warning per setting that makes a 250 reply a promise PostgreSQL may not keep.
 */
function warnIfNotDurable(pool: Pool, logger: Logger): void {
  durabilityProblems(pool).then(
    (problems) => {
      for (const p of problems) {
        logger.warn({ event: KIT_EVENTS.postgresNotDurable, setting: p.setting, value: p.value }, `PostgreSQL runs with ${p.setting}=${p.value}: ${p.risk}; set ${p.setting}=on for a mail server`);
      }
    },
    () => {
      // Unreachable now: /readyz reports it; the check is advice, not a gate.
    },
  );
}

/** A bad configuration: every problem as text on stderr and one JSON line on stdout, exit 78. */
export function exitConfig(service: string, problems: string[], text = `${service}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`): never {
  process.stderr.write(`${text}\n`);
  process.stdout.write(JSON.stringify({ level: 'fatal', time: new Date().toISOString(), service, event: KIT_EVENTS.configInvalid, problems, msg: 'invalid configuration' }) + '\n');
  process.exit(EXIT_CONFIG);
}

/** ioredis reconnects by itself and readiness reports the outage: one warning per outage, not per retry. */
function reportOutages(redis: Redis, logger: Logger): void {
  let down = false;
  redis.on('error', (err) => {
    if (!down) logger.warn({ event: KIT_EVENTS.redisUnavailable, err }, 'Redis connection failed; reconnecting');
    down = true;
  });
  redis.on('ready', () => {
    down = false;
  });
}

export interface LifecycleOptions {
  name: string;
  logger: Logger;
  config: { HEALTH_HOST: string; HEALTH_PORT: number; SHUTDOWN_TIMEOUT_MS: number };
  registry: client.Registry;
  checks: ReadinessChecks;
  app: App;
  /** Closed after the app stopped, in this order (queues, then Redis, then pg). */
  resources: Resource[];
  /** After the app started (the heartbeat). */
  onStarted?: () => void;
}

/**
 * Health endpoints, start, and an ordered, bounded shutdown on SIGTERM/SIGINT: readiness
 * turns 503, intake stops, resources close in order, each step logged. A second signal or
 * the deadline forces exit with status 1.
 */
export async function runLifecycle(options: LifecycleOptions): Promise<void> {
  const { logger, config } = options;
  let stopping = false;

  process.on('uncaughtException', (err) => {
    logger.fatal({ event: KIT_EVENTS.uncaught, err }, 'uncaught exception');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    logger.error({ event: KIT_EVENTS.unhandledRejection, err }, 'unhandled rejection');
  });

  const health = await startHealthServer({ host: config.HEALTH_HOST, port: config.HEALTH_PORT, registry: options.registry, checks: options.checks });

  const shutdown = async (signal: string) => {
    if (stopping) {
      logger.warn({ event: KIT_EVENTS.shutdownForced, signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    const deadline = setTimeout(() => {
      logger.error({ event: KIT_EVENTS.shutdownDeadline, timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown deadline passed, exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    logger.info({ event: KIT_EVENTS.shutdownStart, signal }, 'shutting down');
    health.setDraining();
    let failed = false;
    const step = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        logger.info({ event: KIT_EVENTS.shutdownStep, step: name }, `closed ${name}`);
      } catch (err) {
        failed = true;
        logger.error({ event: KIT_EVENTS.shutdownStepFailed, step: name, err }, `closing ${name} failed`);
      }
    };
    await step('intake', () => options.app.stop());
    for (const r of options.resources) await step(r.name, () => r.close());
    await step('health', () => health.close());
    logger.info({ event: KIT_EVENTS.shutdownDone }, 'stopped');
    clearTimeout(deadline);
    // pino's async destination: flush before exit so the last lines are not lost.
    logger.flush(() => process.exit(failed ? 1 : 0));
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await options.app.start();
  } catch (err) {
    logger.fatal({ event: KIT_EVENTS.startFailed, err }, 'start failed');
    logger.flush(() => process.exit(1));
    return;
  }
  options.onStarted?.();
  logger.info({ event: KIT_EVENTS.startDone, healthPort: health.port }, `${options.name} started`);
}
