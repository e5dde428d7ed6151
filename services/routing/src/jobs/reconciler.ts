// The reconciler: PostgreSQL is the system of record, Redis only carries work. Every
// RECONCILE_INTERVAL_MS it looks for recipients PostgreSQL says are unfinished and makes
// sure a job exists for them (Redis flushed or restarted, a process killed between commit
// and enqueue, a job that exhausted its attempts while PostgreSQL was down).
//
// Safe in every replica: a pass runs only while holding the advisory lock LOCKS.reconciler
// (withAdvisoryLock: other replicas skip rather than queue up behind it).
import { LOCKS, withAdvisoryLock, type Pool, type PoolClient } from '@hopmail/db';
import { ensureJob, type Payload, type Producer, type QueueName } from '@hopmail/queue';
import { createPeriodic, type Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';
import type { RoutingMetrics } from '../metrics.ts';
import type { ReconcileStore, RelayKey } from '../store.ts';

// ensureJob calls in flight at once during a pass.
const ENSURE_PARALLELISM = 16;

export interface ReconcilerDeps {
  pool: Pool;
  /** The reads of a pass, on the connection that holds the lock. */
  storeOn: (client: PoolClient) => ReconcileStore;
  route: Producer<'route-message'>;
  relay: Producer<'deliver-remote'>;
  logger: Logger;
  metrics: RoutingMetrics;
  intervalMs: number;
  graceMs: number;
  batch: number;
}

export interface PassResult {
  /** false when another replica held the lock. */
  ran: boolean;
  route: { scanned: number; added: number; retried: number };
  relay: { scanned: number; added: number; retried: number };
}

export interface Reconciler {
  start(): void;
  /** Stops the timer and waits (boundedly) for a pass in progress. */
  stop(): Promise<void>;
  /** One pass now (tests). */
  runOnce(): Promise<PassResult>;
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { pool, route, relay, logger, metrics, graceMs, batch } = deps;
  const log = logger.child({ component: 'reconciler' });

  async function ensureAll<N extends QueueName>(producer: Producer<N>, payloads: readonly Payload<N>[], tally: { added: number; retried: number }): Promise<void> {
    const queue = producer.name;
    let next = 0;
    const worker = async () => {
      while (next < payloads.length) {
        const payload = payloads[next++]!;
        const action = await ensureJob(producer, payload);
        if (action === 'present') continue;
        tally[action]++;
        metrics.reconcileRequeued.inc({ queue, action });
        log.info({ event: EVENTS.reconcileRequeued, queue, action, msgId: payload.messageId, ...('domain' in payload ? { domain: payload.domain } : {}) }, 'job re-enqueued from PostgreSQL state');
      }
    };
    await Promise.all(Array.from({ length: Math.min(ENSURE_PARALLELISM, payloads.length) }, worker));
  }

  async function pass(): Promise<PassResult> {
    const result: PassResult = { ran: false, route: { scanned: 0, added: 0, retried: 0 }, relay: { scanned: 0, added: 0, retried: 0 } };
    const ran = await withAdvisoryLock(pool, LOCKS.reconciler, async (client) => {
      const store = deps.storeOn(client);
      let after: string | null = null;
      for (;;) {
        const page = await store.staleQueuedPage({ graceMs, after, limit: batch });
        result.route.scanned += page.length;
        await ensureAll(route, page.map((messageId) => ({ messageId })), result.route);
        if (page.length < batch || periodic.closing) break;
        after = page[page.length - 1]!;
      }
      let afterPair: RelayKey | null = null;
      for (;;) {
        const page = await store.overdueRelayPage({ graceMs, after: afterPair, limit: batch });
        result.relay.scanned += page.length;
        await ensureAll(relay, page, result.relay);
        if (page.length < batch || periodic.closing) break;
        afterPair = page[page.length - 1]!;
      }
      return true;
    });
    result.ran = ran === true;
    return result;
  }

  async function tick(): Promise<void> {
    const r = await pass();
    metrics.reconcileRuns.inc({ result: r.ran ? 'scanned' : 'skipped' });
    if (!r.ran) log.debug({ event: EVENTS.reconcileSkipped }, 'another replica holds the reconciler lock');
    else if (r.route.added + r.route.retried + r.relay.added + r.relay.retried > 0) log.info({ event: EVENTS.reconcileDone, route: r.route, relay: r.relay }, 'reconciler pass re-enqueued work');
  }

  // First pass right away: a replica that starts after an outage catches up at once. A pass
  // cut short by shutdown leaves the rest to the next replica.
  const periodic = createPeriodic(tick, {
    intervalMs: deps.intervalMs,
    firstDelayMs: 0,
    onError: (err) => {
      metrics.reconcileRuns.inc({ result: 'failed' });
      log.warn({ event: EVENTS.reconcileFailed, err }, 'reconciler pass failed; next pass will try again');
    },
  });

  return { start: () => periodic.start(), stop: () => periodic.stop(), runOnce: pass };
}
