// The reconciler: PostgreSQL is the system of record, Redis only carries work. Every
// RECONCILE_INTERVAL_MS it looks for recipients PostgreSQL says are unfinished and makes
// sure a job exists for them (Redis flushed or restarted, a process killed between commit
// and enqueue, a job that exhausted its attempts while PostgreSQL was down).
//
// Safe in every replica: a pass runs only while holding a PostgreSQL advisory lock
// (withAdvisoryLock: other replicas skip rather than queue up behind it).
import type { Pool } from '@hopmail/db';
import { ensureJob, type Producer, type QueueName } from '@hopmail/queue';
import type { Logger } from '@hopmail/service-kit';
import { overdueRelayPage, staleQueuedPage } from '../adapters/pg-store.ts';
import type { RoutingMetrics } from '../metrics.ts';
import { createPeriodic, withAdvisoryLock } from './periodic.ts';

// Any constant works as long as every replica uses the same one ("hrec").
export const RECONCILE_LOCK = 0x68726563;

// ensureJob calls in flight at once during a pass.
const ENSURE_PARALLELISM = 16;

export interface ReconcilerDeps {
  pool: Pool;
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
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
  /** One pass now (tests, and the first pass at start). */
  runOnce(): Promise<PassResult>;
}

export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { pool, route, relay, logger, metrics } = deps;
  const log = logger.child({ component: 'reconciler' });

  async function ensureAll<N extends QueueName>(
    producer: Producer<N>,
    queue: N,
    payloads: Parameters<Producer<N>['add']>[0][],
    tally: { added: number; retried: number },
  ): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < payloads.length) {
        const payload = payloads[next++]!;
        const action = await ensureJob(producer, payload);
        if (action === 'present') continue;
        tally[action]++;
        metrics.reconcileRequeued.inc({ queue, action });
        log.info({ event: 'reconcile.requeued', queue, action, msgId: payload.messageId, ...('domain' in payload ? { domain: payload.domain } : {}) }, 'job re-enqueued from PostgreSQL state');
      }
    };
    await Promise.all(Array.from({ length: Math.min(ENSURE_PARALLELISM, payloads.length) }, worker));
  }

  async function pass(): Promise<PassResult> {
    const result: PassResult = { ran: false, route: { scanned: 0, added: 0, retried: 0 }, relay: { scanned: 0, added: 0, retried: 0 } };
    const ran = await withAdvisoryLock(pool, RECONCILE_LOCK, async (client) => {
      let after: string | null = null;
      for (;;) {
        const page = await staleQueuedPage(client, deps.graceMs, after, deps.batch);
        result.route.scanned += page.length;
        await ensureAll(route, 'route-message', page.map((messageId) => ({ messageId })), result.route);
        if (page.length < deps.batch || periodic.closing) break;
        after = page[page.length - 1]!;
      }
      let afterPair: { messageId: string; domain: string } | null = null;
      for (;;) {
        const page = await overdueRelayPage(client, deps.graceMs, afterPair, deps.batch);
        result.relay.scanned += page.length;
        await ensureAll(relay, 'deliver-remote', page, result.relay);
        if (page.length < deps.batch || periodic.closing) break;
        afterPair = page[page.length - 1]!;
      }
      return true;
    });
    result.ran = ran === true;
    return result;
  }

  async function tick(): Promise<void> {
    try {
      const r = await pass();
      metrics.reconcileRuns.inc({ result: r.ran ? 'scanned' : 'skipped' });
      if (!r.ran) log.debug({ event: 'reconcile.skipped' }, 'another replica holds the reconciler lock');
      else if (r.route.added + r.route.retried + r.relay.added + r.relay.retried > 0) log.info({ event: 'reconcile.done', route: r.route, relay: r.relay }, 'reconciler pass re-enqueued work');
    } catch (err) {
      metrics.reconcileRuns.inc({ result: 'failed' });
      log.warn({ event: 'reconcile.failed', err }, 'reconciler pass failed; next pass will try again');
    }
  }

  // First pass right away: a replica that starts after an outage catches up at once. A pass
  // cut short by shutdown leaves the rest to the next replica.
  const periodic = createPeriodic(tick, deps.intervalMs, 0);

  return { start: () => periodic.start(), stop: () => periodic.stop(), runOnce: pass };
}
