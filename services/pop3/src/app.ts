import type { Config } from './config.ts';
import type { Logger } from '@hopmail/service-kit';
import type { prom } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Backend } from './protocol/backend.ts';
import { Authenticator } from './adapters/authenticator.ts';
import { FailureCounter } from './adapters/failure-counter.ts';
import { createMetrics } from './adapters/metrics.ts';
import { dummyHash } from './adapters/passwords.ts';
import { PgMaildropStore } from './adapters/pg-maildrop.ts';
import { Pop3Listener } from './adapters/pop3-listener.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: prom.Registry;
  pool: pg.Pool;
  redis: Redis;
}

export interface Pop3App {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The bound POP3 port (after start). */
  readonly port: number;
  readonly connections: number;
}

export function createApp(deps: AppDeps): Pop3App {
  const { config, logger, registry, pool, redis } = deps;
  const authenticator = new Authenticator({
    pool,
    logger,
    failures: new FailureCounter(redis, {
      prefix: config.REDIS_PREFIX,
      windowSeconds: config.AUTH_FAILURE_WINDOW_SECONDS,
      timeoutMs: config.RATE_LIMIT_TIMEOUT_MS,
    }),
    limits: { maxPerAccount: config.AUTH_MAX_FAILURES_PER_ACCOUNT, maxPerIp: config.AUTH_MAX_FAILURES_PER_IP },
  });
  const store = new PgMaildropStore({ databaseUrl: config.DATABASE_URL, chunkBytes: config.RETR_CHUNK_BYTES });
  const backend: Backend = {
    authenticate: (user, password, ctx) => authenticator.authenticate(user, password, ctx),
    openMaildrop: (mailboxId) => store.open(mailboxId),
  };
  const listener = new Pop3Listener({
    host: config.POP3_HOST,
    port: config.POP3_PORT,
    idleTimeoutMs: config.IDLE_TIMEOUT_MS,
    limits: { maxTotal: config.MAX_CONNECTIONS, maxPerIp: config.MAX_CONNECTIONS_PER_IP },
    engine: {
      allowPlaintextAuth: config.ALLOW_PLAINTEXT_AUTH,
      maxCommandOctets: config.MAX_COMMAND_OCTETS,
      maxAuthLineOctets: config.MAX_AUTH_LINE_OCTETS,
      maxAuthFailures: config.MAX_AUTH_FAILURES_PER_CONNECTION,
      maxBadCommands: config.MAX_BAD_COMMANDS,
      authFailureDelayMs: config.AUTH_FAILURE_DELAY_MS,
      implementation: 'Hopmail',
    },
    backend,
    logger,
    metrics: createMetrics(registry),
  });
  return {
    async start() {
      await dummyHash(); // first unknown-user login must not be cheaper than the rest
      await listener.listen();
      logger.info({ event: 'pop3.listening', port: listener.port, host: config.POP3_HOST, plaintextAuth: config.ALLOW_PLAINTEXT_AUTH }, 'POP3 listening');
    },
    stop: () => listener.close(),
    get port() {
      return listener.port;
    },
    get connections() {
      return listener.connectionCount;
    },
  };
}
