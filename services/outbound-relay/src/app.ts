// The outbound relay: BullMQ workers on deliver-remote and send-dsn, the scheduler pass, and
// the refresh of the Redis connection-slot leases this process holds. Built by runService()
// from its deps (main.ts), or directly by tests.
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { rootCertificates } from 'node:tls';
import type { Pool } from '@hopmail/db';
import { createProducer, createWorker, QUEUE, UnrecoverableError, type Handler, type QueueName } from '@hopmail/queue';
import { createPeriodic, isPermanent, type CodedError, type Logger, type ServiceApp, type createRegistry } from '@hopmail/service-kit';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { addressesAuthenticated, createDnsClient, lookupTlsa, type DnsClient } from '@hopmail/dns-client';
import { DsnStore } from './adapters/dsn-store.ts';
import { createLimits } from './adapters/limits.ts';
import { SmtpPool } from './adapters/smtp-client.ts';
import { RelayStore } from './adapters/store.ts';
import { createTlsPolicies } from './adapters/tls-policies.ts';
import { TlsStore } from './adapters/tls-store.ts';
import { SigningKeys } from './adapters/signing-keys.ts';
import { createAuthenticator } from './jobs/authenticate.ts';
import { DEVELOPMENT_SRS_SECRET, loadKek } from '@hopmail/sender-auth';
import { EVENTS } from './events.ts';
import { createDeliverRemote, type DeliverDeps } from './jobs/deliver-remote.ts';
import { createScheduler, type Scheduler } from './jobs/scheduler.ts';
import { createSendDsn, type SendDsn } from './jobs/send-dsn.ts';
import { createMetrics, type RelayMetrics } from './metrics.ts';
import type { RetryPolicy } from './policy/retry.ts';

// DSNs are rare next to deliveries, and each holds a PostgreSQL connection for its transaction.
const SEND_DSN_CONCURRENCY = 4;

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: ReturnType<typeof createRegistry>;
  pool: Pool;
  redis: Redis;
  /** Injected clock (tests: expiry, delay warnings). */
  now?: () => Date;
  dns?: DnsClient;
}

export interface RelayApp extends ServiceApp {
  store: RelayStore;
  scheduler: Scheduler;
  /** The deliver-remote handler without BullMQ around it. */
  deliver: ReturnType<typeof createDeliverRemote>;
  /** The send-dsn handler without BullMQ around it (tests run it twice, concurrently). */
  sendDsn: SendDsn;
  metrics: RelayMetrics;
}

function ownAddresses(extra: readonly string[]): Set<string> {
  const s = new Set(extra.map((x) => x.toLowerCase()));
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) s.add(a.address.toLowerCase());
  return s;
}

function smarthostOf(config: Config): DeliverDeps['smarthost'] {
  if (!config.RELAY_SMARTHOST) return null;
  const i = config.RELAY_SMARTHOST.lastIndexOf(':');
  return {
    host: config.RELAY_SMARTHOST.slice(0, i),
    port: Number(config.RELAY_SMARTHOST.slice(i + 1)),
    domains: config.RELAY_SMARTHOST_DOMAINS,
    ...(config.RELAY_SMARTHOST_USER ? { auth: { user: config.RELAY_SMARTHOST_USER, pass: config.RELAY_SMARTHOST_PASSWORD } } : {}),
    requireTls: config.RELAY_SMARTHOST_REQUIRE_TLS,
  };
}

export function createApp({ config, logger, registry, pool, redis, now = () => new Date(), dns }: AppDeps): RelayApp {
  const metrics = createMetrics(registry);
  const policy: RetryPolicy = {
    schedule: config.RELAY_RETRY_SCHEDULE,
    minMs: config.RELAY_RETRY_MIN_MS,
    maxMs: config.RELAY_RETRY_MAX_MS,
    maxAgeMs: config.RELAY_MAX_AGE_MS,
    delayWarningMs: config.RELAY_DELAY_WARNING_MS,
  };
  const store = new RelayStore(pool);
  const dsnStore = new DsnStore(pool);
  const limits = createLimits(redis, { prefix: config.REDIS_PREFIX, maxPerHost: config.RELAY_MAX_CONNECTIONS_PER_HOST, ratePerMinute: config.RELAY_RATE_PER_MINUTE, leaseTtlMs: config.RELAY_LEASE_TTL_MS });
  // RELAY_TLS_CA_FILE adds to the system roots; unset, Node's own roots apply.
  const ca = config.RELAY_TLS_CA_FILE ? [...rootCertificates, readFileSync(config.RELAY_TLS_CA_FILE, 'utf8')] : undefined;
  const smtp = new SmtpPool({
    ca,
    name: config.RELAY_HOSTNAME,
    connectTimeoutMs: config.RELAY_CONNECT_TIMEOUT_MS,
    connectAttemptDelayMs: config.RELAY_CONNECT_ATTEMPT_DELAY_MS,
    source: { v4: config.RELAY_SOURCE_ADDRESS, v6: config.RELAY_SOURCE_ADDRESS6 },
    greetingTimeoutMs: config.RELAY_GREETING_TIMEOUT_MS,
    socketTimeoutMs: config.RELAY_SOCKET_TIMEOUT_MS,
    verifyTls: config.RELAY_TLS_VERIFY,
    idleMs: config.RELAY_POOL_IDLE_MS,
    maxMessages: config.RELAY_POOL_MAX_MESSAGES,
    limits,
    logger,
  });
  const producers = {
    route: createProducer('route-message', redis, config.REDIS_PREFIX),
    deliverRemote: createProducer('deliver-remote', redis, config.REDIS_PREFIX),
    sendDsn: createProducer('send-dsn', redis, config.REDIS_PREFIX),
  };
  const kek = loadKek(config.DKIM_KEY_ENCRYPTION_KEY);
  const srsSecret = config.SRS_SECRET || DEVELOPMENT_SRS_SECRET;
  if (kek.development || !config.SRS_SECRET) {
    logger.warn({ event: EVENTS.developmentSecrets, dkimKek: kek.development ? 'development' : 'configured', srsSecret: config.SRS_SECRET ? 'configured' : 'development' }, 'DKIM_KEY_ENCRYPTION_KEY or SRS_SECRET unset: using the public development values (never in production)');
  }
  const dnsClient = dns ?? createDnsClient({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: config.DNS_TRIES });
  const authenticate = createAuthenticator({ keys: new SigningKeys(pool, kek), resolver: (name, rrtype) => dnsClient.resolve(name, rrtype), hostname: config.RELAY_HOSTNAME, logger });
  const tlsStore = new TlsStore(pool);
  const tlsPolicies = createTlsPolicies({
    store: tlsStore,
    dns: dnsClient,
    fetch: { ca, port: config.RELAY_MTA_STS_PORT, timeoutMs: config.RELAY_MTA_STS_TIMEOUT_MS },
    mtaSts: config.RELAY_MTA_STS,
    logger,
    now,
  });
  const deliver = createDeliverRemote({
    tlsa: config.RELAY_DANE ? (name) => lookupTlsa({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: config.DNS_TRIES }, name) : null,
    addressesSecure: (host) => addressesAuthenticated({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: config.DNS_TRIES }, host),
    tlsPolicies,
    tlsStore,
    store,
    dns: dnsClient,
    authenticate,
    srs: { secret: srsSecret, previous: config.SRS_PREVIOUS_SECRETS, maxAgeDays: config.SRS_MAX_AGE_DAYS },
    smtp,
    limits,
    sendDsn: producers.sendDsn,
    logger,
    metrics,
    policy,
    now,
    hostname: config.RELAY_HOSTNAME,
    port: config.RELAY_PORT,
    addressOrder: config.RELAY_ADDRESS_ORDER,
    allowLoopback: config.RELAY_ALLOW_LOOPBACK_MX,
    ownAddresses: ownAddresses(config.RELAY_OWN_ADDRESSES),
    throttleDelayMs: config.RELAY_THROTTLE_DELAY_MS,
    smarthost: smarthostOf(config),
    testHoldAfterDataMs: config.RELAY_TEST_HOLD_AFTER_DATA_MS,
  });
  const sendDsn = createSendDsn({ dsnStore, route: producers.route, logger, metrics, hostname: config.RELAY_HOSTNAME, policy, now, returnMaxBytes: config.RELAY_DSN_RETURN_MAX_BYTES });
  const scheduler = createScheduler({ pool, store, dsnStore, deliverRemote: producers.deliverRemote, sendDsn: producers.sendDsn, logger, metrics, now, batch: config.RELAY_SCHEDULER_BATCH });
  const schedulerPasses = createPeriodic(() => scheduler.tick(), {
    intervalMs: config.RELAY_SCHEDULER_INTERVAL_MS,
    firstDelayMs: 0,
    onError: (err) => logger.error({ event: EVENTS.schedulerFailed, err }, 'scheduler pass failed'),
  });
  // Leases expire after RELAY_LEASE_TTL_MS unless refreshed: a killed process frees its slots.
  const leaseRefresh = createPeriodic(() => limits.refresh(), {
    intervalMs: Math.floor(config.RELAY_LEASE_TTL_MS / 3),
    onError: (err) => logger.warn({ event: EVENTS.leaseRefreshFailed, err }, 'lease refresh failed'),
  });

  const workers: Worker[] = [];
  function startWorker<N extends QueueName>(name: N, handler: Handler<N>, options: { concurrency: number; lockDuration?: number; stalledInterval?: number }): void {
    const worker = createWorker(
      name,
      async (payload, job) => {
        try {
          await handler(payload, job);
        } catch (err) {
          // Permanent errors are not retried by BullMQ; temporary ones fail the job, and the
          // scheduler adds it again while PostgreSQL says the work is owed.
          if (isPermanent(err)) throw new UnrecoverableError(`${(err as CodedError).code}: ${(err as Error).message}`);
          throw err;
        }
      },
      redis,
      config.REDIS_PREFIX,
      options,
    );
    worker.on('failed', (job, err) => logger.error({ event: EVENTS.jobFailed, jobId: job?.id, queue: name, attemptsMade: job?.attemptsMade, err }, `${name} job failed`));
    worker.on('error', (err) => logger.error({ event: EVENTS.workerError, queue: name, err }, `${name} worker error`));
    workers.push(worker);
  }

  return {
    store,
    scheduler,
    deliver,
    sendDsn,
    metrics,
    async start() {
      startWorker(QUEUE.deliverRemote, (payload, job) => deliver(payload, job.id), {
        concurrency: config.RELAY_CONCURRENCY,
        lockDuration: config.RELAY_WORKER_LOCK_MS,
        stalledInterval: Math.max(250, Math.floor(config.RELAY_WORKER_LOCK_MS / 2)),
      });
      startWorker(QUEUE.sendDsn, async (payload) => void (await sendDsn(payload)), { concurrency: SEND_DSN_CONCURRENCY });
      leaseRefresh.start();
      schedulerPasses.start();
    },
    async stop() {
      await schedulerPasses.stop();
      await Promise.all(workers.splice(0).map((w) => w.close()));
      // Jobs in flight held leases until now; pooled sessions give theirs back below.
      await leaseRefresh.stop();
      await smtp.closeAll();
      await Promise.all(Object.values(producers).map((p) => p.close()));
    },
  };
}
