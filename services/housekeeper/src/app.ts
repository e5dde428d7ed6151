// The housekeeper: the work of Hopmail that belongs to no message's path. Three loops, each
// safe in any number of replicas: retention (one replica at a time, LOCKS.housekeeping), the
// outbox publisher (one at a time, LOCKS.outbox) and the webhook dispatcher (a consumer group
// on the event stream, deliveries claimed under SKIP LOCKED).
import { failFastRedis, type ServiceApp, type ServiceDeps } from '@hopmail/service-kit';
import { DeliveryStore } from './adapters/deliveries.ts';
import type { Config } from './config.ts';
import { createEventPublisher } from './jobs/event-publisher.ts';
import { createRetention, type Pruned } from './jobs/retention.ts';
import { createWebhookDispatcher } from './jobs/webhook-dispatcher.ts';
import { createQueueSampler } from './jobs/queue-sampler.ts';
import { createTlsReports, type SentReport } from './jobs/tls-reports.ts';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { createDnsClient, type DnsClient } from '@hopmail/dns-client';
import { createProducer } from '@hopmail/queue';

/** What runService builds for `needs: { postgres: true, redis: 'queue' }` (main.ts); Redis carries the event stream. */
export type Deps = ServiceDeps<Config, { postgres: true; redis: 'queue' }> & { dns?: DnsClient };

export interface HousekeeperApp extends ServiceApp {
  /** Publishes pending trace events to the stream now (tests). */
  publishEvents(): Promise<void>;
  /** One retention pass now; null when another replica holds the lock. */
  prune(): Promise<Pruned | null>;
  /** One queue depth sample now (tests); null when another replica is taking one. */
  sampleQueues(): Promise<Record<string, number> | null>;
  /** One TLS-RPT pass now (tests); null when another replica runs one. */
  sendTlsReports(): Promise<SentReport[] | null>;
}

export function createApp({ config, logger, pool, redis, dns }: Deps): HousekeeperApp {
  const prefix = config.REDIS_PREFIX;
  // The publisher's XADD runs inside a PostgreSQL transaction: with Redis away it must fail at
  // once (and roll back) rather than queue and hold the transaction open.
  const publishRedis = failFastRedis(redis);
  const publisher = createEventPublisher({ pool, redis: publishRedis, prefix, intervalMs: config.EVENTS_PUBLISH_INTERVAL_MS, maxLen: config.EVENTS_STREAM_MAXLEN, logger });
  const retention = createRetention({
    pool,
    logger,
    intervalMs: config.HOUSEKEEPING_INTERVAL_MS,
    days: { messages: config.MESSAGE_RETENTION_DAYS, events: config.EVENTS_RETENTION_DAYS, deliveries: config.WEBHOOK_DELIVERY_RETENTION_DAYS, refusals: config.REFUSAL_RETENTION_DAYS },
  });
  // XREADGROUP BLOCK holds a connection: the dispatcher gets its own.
  const dispatcher = config.WEBHOOK_DISPATCH
    ? createWebhookDispatcher({
        deliveries: new DeliveryStore(pool),
        redis: redis.duplicate(),
        prefix,
        logger,
        pollMs: config.WEBHOOK_POLL_INTERVAL_MS,
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        concurrency: config.WEBHOOK_CONCURRENCY,
        retry: { minMs: config.WEBHOOK_RETRY_MIN_MS, maxMs: config.WEBHOOK_RETRY_MAX_MS, maxAttempts: config.WEBHOOK_MAX_ATTEMPTS },
        disableAfter: config.WEBHOOK_DISABLE_AFTER,
        allowPrivate: config.WEBHOOK_ALLOW_PRIVATE,
      })
    : null;

  const sampler = createQueueSampler({ pool, redis, prefix, logger, intervalMs: config.QUEUE_SAMPLE_INTERVAL_MS });
  const route = createProducer('route-message', redis, prefix);
  const tlsReports = createTlsReports({
    pool,
    dns: dns ?? createDnsClient({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: config.DNS_TRIES }),
    route,
    logger,
    intervalMs: config.TLSRPT_INTERVAL_MS,
    organization: config.TLSRPT_ORGANIZATION,
    contact: config.TLSRPT_CONTACT || config.TLSRPT_FROM || `postmaster@${config.TLSRPT_SUBMITTER}`,
    from: config.TLSRPT_FROM,
    submitter: config.TLSRPT_SUBMITTER,
    httpTimeoutMs: config.TLSRPT_HTTP_TIMEOUT_MS,
    ca: config.TLSRPT_CA_FILE ? [...rootCertificates, readFileSync(config.TLSRPT_CA_FILE, 'utf8')] : undefined,
    batch: 100,
  });

  return {
    async start() {
      if (config.QUEUE_SAMPLE_INTERVAL_MS > 0) sampler.start();
      if (config.EVENTS_PUBLISH) publisher.start();
      dispatcher?.start();
      retention.start();
      if (config.TLSRPT_SEND) tlsReports.start();
    },
    async stop() {
      // Each waits for its pass in progress (bounded); unfinished work is picked up again by
      // any replica: the cursor, leases and unacknowledged stream entries are all shared.
      await Promise.all([publisher.stop(), dispatcher?.stop(), retention.stop(), sampler.stop(), tlsReports.stop()]);
      await route.close();
      publishRedis.disconnect();
    },
    publishEvents: () => publisher.drain(),
    prune: () => retention.pass(),
    sampleQueues: () => sampler.sample(),
    sendTlsReports: () => tlsReports.pass(),
  };
}
