// pop3: wires the engine to its storage (PostgreSQL), its login limits (Redis) and its
// listeners; runService() supplies every dependency and owns start-up and shutdown.
import type { Logger, prom } from '@hopmail/service-kit';
import type { CertificateStore } from '@hopmail/tls';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Config } from './config.ts';
import { EVENTS } from './events.ts';
import type { Backend } from './protocol/backend.ts';
import { Authenticator, FailureCounter, dummyHash } from '@hopmail/login';
import { createMetrics } from './adapters/metrics.ts';
import { PgMaildropStore } from './adapters/pg-maildrop.ts';
import { ConnectionCounters, Pop3Listener, type ListenerOptions } from './adapters/pop3-listener.ts';

/** What runService() builds for pop3 (`needs: { postgres, redis: 'fail-fast', certificates }`). */
export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: prom.Registry;
  pool: pg.Pool;
  /** Fail-fast: the login-failure counters only; logins go on without them while Redis is away. */
  redis: Redis;
  /** From TLS_CERT_FILE/TLS_KEY_FILE; null: no TLS at all (development only). */
  certificates: CertificateStore | null;
}

export interface Pop3App {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The bound POP3 port (after start). */
  readonly port: number;
  /** The bound POP3S (implicit TLS) port, or null without a certificate. */
  readonly tlsPort: number | null;
  readonly connections: number;
  readonly certificates: CertificateStore | null;
}

export function createApp(deps: AppDeps): Pop3App {
  const { config, logger, registry, pool, redis, certificates } = deps;
  const authenticator = new Authenticator({
    pool,
    logger,
    events: EVENTS,
    failures: new FailureCounter(redis, {
      prefix: config.REDIS_PREFIX,
      windowSeconds: config.AUTH_FAILURE_WINDOW_SECONDS,
      timeoutMs: config.RATE_LIMIT_TIMEOUT_MS,
    }),
    limits: { maxPerAccount: config.AUTH_MAX_FAILURES_PER_ACCOUNT, maxPerIp: config.AUTH_MAX_FAILURES_PER_IP },
  });
  const store = new PgMaildropStore({ databaseUrl: config.DATABASE_URL, chunkBytes: config.RETR_CHUNK_BYTES, readAheadBytes: config.RETR_READ_AHEAD_BYTES });
  const backend: Backend = {
    authenticate: (user, password, ctx) => authenticator.authenticate(user, password, ctx),
    openMaildrop: (mailboxId) => store.open(mailboxId),
  };
  if (!certificates) {
    logger.warn(
      { event: EVENTS.tlsDisabled, plaintextAuth: config.ALLOW_PLAINTEXT_AUTH },
      config.ALLOW_PLAINTEXT_AUTH
        ? 'no certificate: no STLS and no POP3S port; plaintext logins allowed (development only)'
        : 'no certificate: no STLS and no POP3S port, and ALLOW_PLAINTEXT_AUTH=false, so nobody can log in',
    );
  }
  const counters = new ConnectionCounters();
  const common: Omit<ListenerOptions, 'port' | 'tls' | 'name'> = {
    host: config.POP3_HOST,
    certificates,
    handshakeTimeoutMs: config.TLS_HANDSHAKE_TIMEOUT_MS,
    counters,
    idleTimeoutMs: config.IDLE_TIMEOUT_MS,
    limits: { maxTotal: config.MAX_CONNECTIONS, maxPerIp: config.MAX_CONNECTIONS_PER_IP },
    engine: {
      allowPlaintextAuth: config.ALLOW_PLAINTEXT_AUTH,
      stls: certificates !== null, // per listener: never on the implicit-TLS port
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
  };
  const plain = new Pop3Listener({ ...common, port: config.POP3_PORT, tls: 'plain', name: 'pop3' });
  const implicit = certificates ? new Pop3Listener({ ...common, port: config.POP3S_PORT, tls: 'implicit', name: 'pop3s' }) : null;
  const listeners = implicit ? [plain, implicit] : [plain];
  return {
    async start() {
      await dummyHash(); // first unknown-user login must not be cheaper than the rest
      // Renewed certificates are picked up for new handshakes; sessions keep theirs.
      certificates?.watch();
      for (const l of listeners) {
        await l.listen();
        logger.info(
          { event: EVENTS.listening, listener: l === plain ? 'pop3' : 'pop3s', port: l.port, host: config.POP3_HOST, tls: l === plain ? (certificates ? 'stls' : 'none') : 'implicit', plaintextAuth: config.ALLOW_PLAINTEXT_AUTH },
          'POP3 listening',
        );
      }
    },
    async stop() {
      await Promise.all(listeners.map((l) => l.close()));
      certificates?.close();
    },
    get port() {
      return plain.port;
    },
    get tlsPort() {
      return implicit ? implicit.port : null;
    },
    get connections() {
      return counters.total;
    },
    certificates,
  };
}
