// imap: wires the session engine to PostgreSQL (mail and change notifications), the shared
// login limits (Redis) and its two listeners; runService() supplies every dependency.
import type { Logger, prom } from '@hopmail/service-kit';
import type { CertificateStore } from '@hopmail/tls';
import { Authenticator, FailureCounter, dummyHash } from '@hopmail/login';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from './config.ts';
import { EVENTS } from './events.ts';
import { ConnectionCounters, ImapListener, type ListenerOptions } from './adapters/imap-listener.ts';
import { createMetrics } from './adapters/metrics.ts';
import { Notifier } from './adapters/notifier.ts';
import { PgStore } from './adapters/pg-store.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: prom.Registry;
  pool: pg.Pool;
  /** Fail-fast: the login-failure counters only. */
  redis: Redis;
  certificates: CertificateStore | null;
}

export interface ImapApp {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly port: number;
  readonly tlsPort: number | null;
  readonly connections: number;
}

export function createApp(deps: AppDeps): ImapApp {
  const { config, logger, registry, pool, redis, certificates } = deps;
  const authenticator = new Authenticator({
    pool,
    logger,
    events: EVENTS,
    failures: new FailureCounter(redis, { prefix: config.REDIS_PREFIX, windowSeconds: config.AUTH_FAILURE_WINDOW_SECONDS, timeoutMs: config.RATE_LIMIT_TIMEOUT_MS }),
    limits: { maxPerAccount: config.AUTH_MAX_FAILURES_PER_ACCOUNT, maxPerIp: config.AUTH_MAX_FAILURES_PER_IP },
  });
  const store = new PgStore({ pool, authenticator, searchTimeoutMs: config.SEARCH_TIMEOUT_MS, chunkBytes: config.FETCH_CHUNK_BYTES });
  const notifier = new Notifier(config.DATABASE_URL, logger);
  if (!certificates) {
    logger.warn(
      { event: EVENTS.tlsDisabled, plaintextAuth: config.ALLOW_PLAINTEXT_AUTH },
      config.ALLOW_PLAINTEXT_AUTH
        ? 'no certificate: no STARTTLS and no IMAPS port; plaintext logins allowed (development only)'
        : 'no certificate: no STARTTLS and no IMAPS port, and ALLOW_PLAINTEXT_AUTH=false, so nobody can log in',
    );
  }
  const common: Omit<ListenerOptions, 'port' | 'tls' | 'name'> = {
    host: config.IMAP_HOST,
    certificates,
    handshakeTimeoutMs: config.TLS_HANDSHAKE_TIMEOUT_MS,
    idleTimeoutMs: config.IDLE_TIMEOUT_MS,
    counters: new ConnectionCounters(),
    limits: { maxTotal: config.MAX_CONNECTIONS, maxPerIp: config.MAX_CONNECTIONS_PER_IP },
    reader: { maxLineOctets: config.MAX_LINE_OCTETS, maxLiteralOctets: config.MAX_LITERAL_OCTETS, maxCommandOctets: config.MAX_LITERAL_OCTETS + config.MAX_LINE_OCTETS * 4 },
    engine: {
      allowPlaintextAuth: config.ALLOW_PLAINTEXT_AUTH,
      starttls: certificates !== null,
      maxAuthFailures: config.MAX_AUTH_FAILURES_PER_CONNECTION,
      maxBadCommands: config.MAX_BAD_COMMANDS,
      authFailureDelayMs: config.AUTH_FAILURE_DELAY_MS,
      maxMessageOctets: config.MAX_LITERAL_OCTETS,
      batchSize: config.FETCH_BATCH,
      fetchReadAhead: config.FETCH_READ_AHEAD,
    },
    store,
    notifier,
    logger,
    metrics: createMetrics(registry),
  };
  const plain = new ImapListener({ ...common, port: config.IMAP_PORT, tls: 'plain', name: 'imap' });
  const implicit = certificates ? new ImapListener({ ...common, port: config.IMAPS_PORT, tls: 'implicit', name: 'imaps' }) : null;
  const listeners = implicit ? [plain, implicit] : [plain];
  // New mail is indexed for SEARCH here, off the delivery path (migration 0021): batch after batch
  // while there is a queue, then a pause.
  let indexing: { stop: boolean; timer?: NodeJS.Timeout; running?: Promise<void> } | null = null;
  const indexLoop = async () => {
    const state = indexing!;
    try {
      while (!state.stop && (await store.indexPending(config.SEARCH_INDEX_BATCH)) === config.SEARCH_INDEX_BATCH);
    } catch (err) {
      logger.warn({ event: EVENTS.searchIndexFailed, err }, 'SEARCH indexing failed; retried later (a SEARCH indexes its own folder first)');
    }
    if (!state.stop) state.timer = setTimeout(() => (state.running = indexLoop()), config.SEARCH_INDEX_INTERVAL_MS);
  };
  return {
    async start() {
      await dummyHash();
      if (config.SEARCH_INDEX_INTERVAL_MS > 0) {
        indexing = { stop: false };
        indexing.running = indexLoop();
      }
      certificates?.watch();
      await notifier.start();
      for (const l of listeners) {
        await l.listen();
        logger.info({ event: EVENTS.listening, listener: l === plain ? 'imap' : 'imaps', port: l.port, host: config.IMAP_HOST }, 'IMAP listening');
      }
    },
    async stop() {
      if (indexing) {
        indexing.stop = true;
        clearTimeout(indexing.timer);
        await indexing.running;
      }
      await Promise.all(listeners.map((l) => l.close()));
      await notifier.stop();
      certificates?.close();
    },
    get port() {
      return plain.port;
    },
    get tlsPort() {
      return implicit ? implicit.port : null;
    },
    get connections() {
      return common.counters.total;
    },
  };
}
