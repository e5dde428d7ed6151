// The routing service: a BullMQ worker on route-message plus the reconciler, built from
// the deps runService gives (main.ts) or a test passes.
import { PgDirectory, type Pool } from '@hopmail/db';
import type { ResolveOptions } from '@hopmail/mail';
import { createProducer, createWorker, UnrecoverableError, type Job, type Payload } from '@hopmail/queue';
import { isPermanent, type CodedError, type Logger } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import type { Worker } from 'bullmq';
import { PgRoutingStore } from './adapters/pg-store.ts';
import { routeBatch } from './jobs/route-batch.ts';
import { QuotaCache } from './adapters/quota-cache.ts';
import { PgTlsReportStore } from './adapters/tls-reports.ts';
import type { Config } from './config.ts';
import { EVENTS } from './events.ts';
import { createReconciler, type Reconciler } from './jobs/reconciler.ts';
import { createRouteMessageHandler, type RouteResult } from './jobs/route-message.ts';
import { createMetrics, type RoutingMetrics } from './metrics.ts';

type Registry = Parameters<typeof createMetrics>[0];

export interface RoutingDeps {
  config: Config;
  logger: Logger;
  registry: Registry;
  /**
   * Made with INDEX_PLANS (@hopmail/db), as runService's `postgres: 'index-plans'` does
   * (main.ts): the store's named statements keep one plan per connection, which only those
   * settings keep to index lookups as the tables grow (adapters/pg-store.ts).
   */
  pool: Pool;
  redis: Redis;
}

export interface RoutingApp {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The handler without BullMQ around it (tests run it directly, twice, concurrently). */
  route(messageId: string): Promise<RouteResult>;
  reconciler: Reconciler;
  metrics: RoutingMetrics;
  readonly worker: Worker | undefined;
}

export function resolveOptionsFrom(config: Config): ResolveOptions {
  return {
    localPartCaseSensitive: config.LOCAL_PART_CASE_SENSITIVE,
    subaddressDelimiter: config.SUBADDRESS_DELIMITER,
    maxDepth: config.ALIAS_MAX_DEPTH,
    maxTargets: config.ALIAS_MAX_TARGETS,
  };
}

export function createApp(deps: RoutingDeps): RoutingApp {
  const { config, logger, registry, pool, redis } = deps;
  const metrics = createMetrics(registry);
  const store = new PgRoutingStore(pool);
  const directory = new PgDirectory(pool, { localPartCaseSensitive: config.LOCAL_PART_CASE_SENSITIVE, cacheMs: config.DIRECTORY_CACHE_MS });
  const route = createProducer('route-message', redis, config.REDIS_PREFIX);
  const relay = createProducer('deliver-remote', redis, config.REDIS_PREFIX);
  const dsn = createProducer('send-dsn', redis, config.REDIS_PREFIX);
  const quotas = new QuotaCache({ store, cacheMs: config.DIRECTORY_CACHE_MS });
  const handler = createRouteMessageHandler({
    store,
    directory,
    quotas,
    resolveOptions: resolveOptionsFrom(config),
    relay,
    dsn,
    logger,
    metrics,
    tlsReports: { store: new PgTlsReportStore(pool), address: { localPart: config.TLSRPT_LOCAL_PART, subaddressDelimiter: config.SUBADDRESS_DELIMITER }, maxBytes: config.TLSRPT_MAX_BYTES },
  });
  const reconciler = createReconciler({
    pool,
    storeOn: (client) => new PgRoutingStore(client),
    route,
    relay,
    logger,
    metrics,
    intervalMs: config.RECONCILE_INTERVAL_MS,
    graceMs: config.RECONCILE_GRACE_MS,
    batch: config.RECONCILE_BATCH,
  });
  let worker: Worker | undefined;
  let lastWorkerError = 0;

  // Errors already logged under their own event code (permanent failures).
  const logged = new WeakSet<object>();

  /** A permanent failure: logged under its own code, and the error BullMQ must not retry. */
  function permanent(err: unknown, messageId: string, job: Job): UnrecoverableError {
    const code = (err as CodedError).code;
    // A permanent error's code is its event (EVENTS.messageMissing).
    logger.error({ event: code, jobId: job.id, msgId: messageId, queue: 'route-message', err }, 'permanent failure, not retried');
    const wrapped = new UnrecoverableError(`${code}: ${(err as Error).message}`);
    logged.add(wrapped);
    return wrapped;
  }

  async function run(payload: Payload<'route-message'>, job: Job): Promise<void> {
    const end = metrics.jobSeconds.startTimer();
    try {
      // A job can carry the messages committed together (`also`). What failed for a passing
      // reason is tried again, the job narrowed to those first so the others are not routed
      // twice; what can never succeed is logged and dropped.
      const ids = [payload.messageId, ...(payload.also ?? [])];
      const outcome = await routeBatch(ids, (messageId) => handler({ messageId }, job), isPermanent);
      const dropped = outcome.permanent.map((p) => permanent(p.error, p.messageId, job));
      if (outcome.retry.length > 0) {
        const [messageId, ...also] = outcome.retry;
        // Should this fail, the retry routes them all again: harmless, each route is idempotent.
        if (also.length + 1 < ids.length) await job.updateData(also.length > 0 ? { messageId, also } : { messageId }).catch(() => {});
        throw outcome.retryError;
      }
      if (dropped.length > 0) throw dropped[0];
    } finally {
      end();
    }
  }

  return {
    route: (messageId) => handler({ messageId }),
    reconciler,
    metrics,
    get worker() {
      return worker;
    },
    async start() {
      worker = createWorker('route-message', run, redis, config.REDIS_PREFIX, {
        concurrency: config.ROUTING_CONCURRENCY,
        lockDuration: config.ROUTING_LOCK_MS,
        stalledInterval: config.ROUTING_LOCK_MS,
      });
      worker.on('completed', () => metrics.jobs.inc({ result: 'completed' }));
      worker.on('failed', (job, err) => {
        const attempts = job?.opts.attempts ?? 1;
        const final = err instanceof UnrecoverableError || (job?.attemptsMade ?? 0) >= attempts;
        metrics.jobs.inc({ result: final ? 'failed' : 'retry' });
        const fields = { jobId: job?.id, msgId: (job?.data as { messageId?: string } | undefined)?.messageId, queue: 'route-message', attemptsMade: job?.attemptsMade, err };
        if (logged.has(err)) return;
        if (final) logger.error({ event: EVENTS.jobFailed, ...fields }, 'route-message job failed for good; the reconciler retries it while recipients stay queued');
        else logger.warn({ event: EVENTS.jobRetry, ...fields }, 'route-message job failed; BullMQ retries with backoff');
      });
      worker.on('error', (err) => {
        // ioredis repeats connection errors while Redis is down: one line per 5 s is enough.
        const now = Date.now();
        if (now - lastWorkerError < 5000) return;
        lastWorkerError = now;
        logger.warn({ event: EVENTS.workerError, queue: 'route-message', err }, 'route-message worker error');
      });
      await worker.waitUntilReady();
      reconciler.start();
    },
    async stop() {
      await reconciler.stop();
      // close() without force waits for the jobs in flight to finish.
      await worker?.close();
      await Promise.all([route.close(), relay.close(), dsn.close()]);
    },
  };
}
