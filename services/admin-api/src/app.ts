// admin-api: the management API over HTTP, and nothing else (retention, the event publisher
// and webhook delivery run in the housekeeper).
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createPeriodic, failFastRedis, readHeartbeats, settleWithin, withTimeout, type ServiceApp, type ServiceDeps } from '@hopmail/service-kit';
import { AuditStore } from './adapters/audit.ts';
import { KeyStore } from './adapters/keys.ts';
import { MessageSearch } from './adapters/messages.ts';
import { rspamdTrainer } from './adapters/spam-trainer.ts';
import { abuseStatsReader } from './adapters/abuse-stats.ts';
import { argon2idHasher, type PasswordHasher } from './adapters/password.ts';
import { QueueStore } from './adapters/queue.ts';
import { createQueueJobs } from './adapters/queue-jobs.ts';
import { createAuthLimiter } from './adapters/rate-limit.ts';
import { Store } from './adapters/store.ts';
import { WebhookStore } from './adapters/webhooks.ts';
import { OverviewStore } from './adapters/overview.ts';
import { messageStart } from './adapters/message-header.ts';
import { WebhookTester } from './adapters/webhook-test.ts';
import { HEADER_BYTES } from './http/routes/message-headers.ts';
import { SessionStore } from './adapters/sessions.ts';
import { DEFAULT_CONSOLE_DIR } from './http/console.ts';
import { DkimKeyStore } from './adapters/dkim-keys.ts';
import { AbuseListStore } from './adapters/abuse-lists.ts';
import { TransportSecurityStore } from './adapters/transport-security.ts';
import { createDnsClient, type DnsClient } from '@hopmail/dns-client';
import { loadKek } from '@hopmail/sender-auth';
import type { Config } from './config.ts';
import { EVENTS } from './events.ts';
import { httpMetrics } from './http/metrics.ts';
import { buildServer } from './http/server.ts';

/** Budget of each Redis step of a queue action or statistic. */
const REDIS_TIMEOUT_MS = 5000;

/**
 * What runService builds for `needs: { postgres: true, redis: 'queue' }` (main.ts). Redis is
 * the queue connection (deliver-remote jobs, queue depth); the auth-failure counters use a
 * fail-fast copy of it.
 */
export type Deps = ServiceDeps<Config, { postgres: true; redis: 'queue' }> & {
  /** Tests pass a cheaper hasher; production uses the configured Argon2id parameters. */
  hasher?: PasswordHasher;
  /** Tests pass a client of the fake DNS. */
  dns?: DnsClient;
};

export interface AdminApp extends ServiceApp {
  /** Bound port, known after start(). */
  port(): number;
  /** The Fastify instance, built at once (tests inject() into it without start()). */
  server(): FastifyInstance;
}

export function createApp({ config, logger, registry, pool, redis, hasher, dns }: Deps): AdminApp {
  const kek = loadKek(config.DKIM_KEY_ENCRYPTION_KEY);
  if (kek.development) logger.warn({ event: EVENTS.developmentSecrets, dkimKek: 'development' }, 'DKIM_KEY_ENCRYPTION_KEY unset: DKIM private keys are encrypted with the public development key (never in production)');
  // Auth-failure counters run while a request waits: with Redis away they must fail at once
  // (the limit fails open) instead of queueing behind an offline Redis.
  const counters = failFastRedis(redis);
  const jobs = createQueueJobs({ redis, prefix: config.REDIS_PREFIX, timeoutMs: REDIS_TIMEOUT_MS });
  const server = buildServer({
    logger,
    token: config.ADMIN_TOKEN,
    bodyLimit: config.ADMIN_BODY_LIMIT,
    defaultLimit: config.ADMIN_LIST_DEFAULT_LIMIT,
    metrics: httpMetrics(registry),
    limiter: createAuthLimiter({ redis: counters, prefix: config.REDIS_PREFIX, limit: config.ADMIN_AUTH_FAIL_LIMIT, windowS: config.ADMIN_AUTH_FAIL_WINDOW_S, logger }),
    store: new Store(pool),
    keys: new KeyStore(pool),
    auditLog: new AuditStore(pool),
    queue: new QueueStore(pool),
    jobs,
    messages: new MessageSearch(pool),
    webhooks: new WebhookStore(pool),
    bulkBatch: config.QUEUE_BULK_BATCH,
    webhookAllowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
    consoleDir: config.CONSOLE_DIR || DEFAULT_CONSOLE_DIR,
    autoconfig: {
      servers: { host: config.MAIL_HOSTNAME },
      isLocalDomain: async (domain) => (await pool.query("SELECT 1 FROM domains WHERE lower(name) = lower($1) AND kind = 'local'", [domain])).rowCount! > 0,
    },
    sessions: {
      store: new SessionStore(pool, { idleS: config.CONSOLE_SESSION_IDLE_S, maxS: config.CONSOLE_SESSION_MAX_S }, config.ADMIN_TOKEN),
      secure: config.CONSOLE_COOKIE_SECURE,
      idleS: config.CONSOLE_SESSION_IDLE_S,
    },
    messageStart: messageStart(pool, HEADER_BYTES),
    webhookTester: new WebhookTester(pool, config.WEBHOOK_ALLOW_PRIVATE),
    abuseStats: abuseStatsReader(counters, config.REDIS_PREFIX),
    abuseLists: new AbuseListStore(pool),
    spamTrainer: config.RSPAMD_CONTROLLER_URL
      ? rspamdTrainer(pool, { controllerUrl: config.RSPAMD_CONTROLLER_URL, password: config.RSPAMD_PASSWORD || undefined, maxSize: 10 * 1024 * 1024, timeoutMs: config.RSPAMD_LEARN_TIMEOUT_MS, ...(config.RSPAMD_CA_FILE ? { ca: readFileSync(config.RSPAMD_CA_FILE, 'utf8') } : {}) })
      : null,
    overview: { overview: new OverviewStore(pool), services: () => withTimeout(readHeartbeats(counters, config.REDIS_PREFIX), 1000, 'heartbeats') },
    dkimKeys: new DkimKeyStore(pool),
    tls: new TransportSecurityStore(pool),
    kek,
    dns: dns ?? createDnsClient({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: config.DNS_TRIES }),
    doctor: { mailHostname: config.MAIL_HOSTNAME, spf: config.DNS_DOCTOR_SPF, dmarc: config.DNS_DOCTOR_DMARC, mtaSts: { mode: config.MTA_STS_MODE, maxAge: config.MTA_STS_MAX_AGE }, tlsRpt: config.DNS_DOCTOR_TLSRPT.replaceAll('{tlsrpt}', config.TLSRPT_LOCAL_PART) },
    tlsRptMaxBytes: config.TLSRPT_MAX_BYTES,
    dkimGraceDays: config.DKIM_GRACE_DAYS,
    hasher: hasher ?? argon2idHasher({ memoryKib: config.ARGON2_MEMORY_KIB, timeCost: config.ARGON2_TIME_COST, parallelism: config.ARGON2_PARALLELISM }),
  });
  // fastify.close() only drops connections idle at that instant: a keep-alive connection whose
  // request finishes later would hold close() open for the whole keep-alive timeout, so idle
  // connections are swept until it is done.
  const sweeper = createPeriodic(async () => server.server.closeIdleConnections(), { intervalMs: 50, firstDelayMs: 0 });
  // Count auth failures from the first request when Redis is there; never wait long for it.
  // (onReady: before listen() binds, and before the first inject() of a test.)
  server.addHook('onReady', async () => {
    if (counters.status !== 'ready') await settleWithin(once(counters, 'ready'), 2000);
  });

  return {
    async start() {
      await server.listen({ port: config.ADMIN_PORT, host: config.ADMIN_HOST });
      logger.info({ event: EVENTS.listening, host: config.ADMIN_HOST, port: (server.server.address() as AddressInfo).port }, 'admin API listening');
    },
    async stop() {
      // Stops accepting and lets in-flight requests finish; the pool is closed by runService after.
      sweeper.start();
      try {
        await server.close();
      } finally {
        await sweeper.stop();
      }
      counters.disconnect();
      await jobs.close();
    },
    port() {
      const address = server.server.address() as AddressInfo | null;
      if (!address) throw new Error('admin-api is not listening');
      return address.port;
    },
    server: () => server,
  };
}
