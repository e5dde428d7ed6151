import { networkInterfaces } from 'node:os';
import type { Pool } from '@hopmail/db';
import { createProducer, createWorker, QUEUE, UnrecoverableError } from '@hopmail/queue';
import { CodedError, type Logger, type createRegistry } from '@hopmail/service-kit';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { createDns, type Dns } from './adapters/dns.ts';
import { createLimits } from './adapters/limits.ts';
import { SmtpPool } from './adapters/smtp-client.ts';
import { RelayStore } from './adapters/store.ts';
import { createDeliverRemote } from './jobs/deliver-remote.ts';
import { createDsnSender } from './jobs/dsn.ts';
import { createScheduler } from './jobs/scheduler.ts';
import { createMetrics } from './metrics.ts';
import type { RetryPolicy } from './policy/retry.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: ReturnType<typeof createRegistry>;
  pool: Pool;
  redis: Redis;
  /** Injected clock (tests: expiry, delay warnings). */
  now?: () => Date;
  dns?: Dns;
}

function ownAddresses(extra: readonly string[]): Set<string> {
  const s = new Set(extra.map((x) => x.toLowerCase()));
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) s.add(a.address.toLowerCase());
  return s;
}

export function createApp(deps: AppDeps) {
  const { config: c, logger } = deps;
  const now = deps.now ?? (() => new Date());
  const metrics = createMetrics(deps.registry);
  const policy: RetryPolicy = { schedule: c.RELAY_RETRY_SCHEDULE, minMs: c.RELAY_RETRY_MIN_MS, maxMs: c.RELAY_RETRY_MAX_MS, maxAgeMs: c.RELAY_MAX_AGE_MS, delayWarningMs: c.RELAY_DELAY_WARNING_MS };
  const store = new RelayStore(deps.pool);
  const dns = deps.dns ?? createDns({ servers: c.DNS_SERVERS, timeoutMs: c.DNS_TIMEOUT_MS, tries: c.DNS_TRIES });
  const limits = createLimits(deps.redis, { prefix: c.REDIS_PREFIX, maxPerHost: c.RELAY_MAX_CONNECTIONS_PER_HOST, ratePerMinute: c.RELAY_RATE_PER_MINUTE, leaseTtlMs: c.RELAY_LEASE_TTL_MS });
  const smtp = new SmtpPool({
    name: c.RELAY_HOSTNAME,
    connectTimeoutMs: c.RELAY_CONNECT_TIMEOUT_MS,
    greetingTimeoutMs: c.RELAY_GREETING_TIMEOUT_MS,
    socketTimeoutMs: c.RELAY_SOCKET_TIMEOUT_MS,
    verifyTls: c.RELAY_TLS_VERIFY,
    idleMs: c.RELAY_POOL_IDLE_MS,
    maxMessages: c.RELAY_POOL_MAX_MESSAGES,
    limits,
    logger,
  });
  const routeProducer = createProducer('route-message', deps.redis, c.REDIS_PREFIX);
  const relayProducer = createProducer('deliver-remote', deps.redis, c.REDIS_PREFIX);
  const dsn = createDsnSender({ pool: deps.pool, routeProducer, logger, hostname: c.RELAY_HOSTNAME, policy, now, onSent: (a) => metrics.dsns.inc({ action: a }) });
  let smarthost = null;
  if (c.RELAY_SMARTHOST) {
    const i = c.RELAY_SMARTHOST.lastIndexOf(':');
    smarthost = {
      host: c.RELAY_SMARTHOST.slice(0, i),
      port: Number(c.RELAY_SMARTHOST.slice(i + 1)),
      domains: c.RELAY_SMARTHOST_DOMAINS,
      ...(c.RELAY_SMARTHOST_USER ? { auth: { user: c.RELAY_SMARTHOST_USER, pass: c.RELAY_SMARTHOST_PASSWORD } } : {}),
      requireTls: c.RELAY_SMARTHOST_REQUIRE_TLS,
    };
  }
  const deliver = createDeliverRemote({
    store, dns, smtp, limits, dsn, logger, metrics, policy, now,
    hostname: c.RELAY_HOSTNAME,
    port: c.RELAY_PORT,
    allowLoopback: c.RELAY_ALLOW_LOOPBACK_MX,
    ownAddresses: ownAddresses(c.RELAY_OWN_ADDRESSES),
    throttleDelayMs: c.RELAY_THROTTLE_DELAY_MS,
    smarthost,
    testHoldAfterDataMs: c.RELAY_TEST_HOLD_AFTER_DATA_MS,
  });
  const scheduler = createScheduler({ pool: deps.pool, store, producer: relayProducer, dsn, logger, metrics, now, batch: c.RELAY_SCHEDULER_BATCH });

  let worker: Worker | undefined;
  let timer: NodeJS.Timeout | undefined;
  let leaseTimer: NodeJS.Timeout | undefined;
  let ticking: Promise<unknown> | undefined;
  let stopped = false;

  const loop = () => {
    if (stopped) return;
    ticking = scheduler
      .tick()
      .catch((err) => logger.error({ event: 'relay.scheduler-failed', err }, 'scheduler tick failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, c.RELAY_SCHEDULER_INTERVAL_MS);
      });
  };

  return {
    store,
    scheduler,
    deliver,
    metrics,
    async start() {
      worker = createWorker(
        QUEUE.deliverRemote,
        async (payload, job) => {
          try {
            await deliver(payload, job.id);
          } catch (err) {
            // Permanent errors are not retried by BullMQ; temporary ones fail the job and the
            // scheduler retries it (ensureJob) while PostgreSQL says the work is due.
            if (err instanceof CodedError && !err.temporary) throw new UnrecoverableError(`${err.code}: ${err.message}`);
            throw err;
          }
        },
        deps.redis,
        c.REDIS_PREFIX,
        { concurrency: c.RELAY_CONCURRENCY, lockDuration: c.RELAY_WORKER_LOCK_MS, stalledInterval: Math.max(250, Math.floor(c.RELAY_WORKER_LOCK_MS / 2)) },
      );
      worker.on('failed', (job, err) => logger.error({ event: 'relay.job-failed', jobId: job?.id, queue: QUEUE.deliverRemote, err }, 'deliver-remote job failed'));
      worker.on('error', (err) => logger.error({ event: 'relay.worker-error', err }, 'worker error'));
      leaseTimer = setInterval(() => void limits.refresh().catch((err) => logger.warn({ event: 'relay.lease-refresh-failed', err }, 'lease refresh failed')), Math.floor(c.RELAY_LEASE_TTL_MS / 3));
      leaseTimer.unref();
      loop();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(leaseTimer);
      await worker?.close();
      await ticking;
      await smtp.closeAll();
      await routeProducer.close();
      await relayProducer.close();
    },
  };
}

export type RelayApp = ReturnType<typeof createApp>;
