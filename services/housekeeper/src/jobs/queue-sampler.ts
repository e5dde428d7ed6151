// Queue depths for the console's overview (admin-api GET /v1/overview): every
// QUEUE_SAMPLE_INTERVAL_MS one replica (LOCKS.queueSampler, transaction scope) writes one row
// of queue_samples — each BullMQ queue's unfinished jobs and the unfinished recipients per
// status — and deletes the samples and traffic minutes older than a day. The overview then
// reads a few hundred small rows however large the queue is.
import { LOCKS, withAdvisoryLock, type Pool } from '@hopmail/db';
import { createProducer, QUEUE, type Producer, type QueueName } from '@hopmail/queue';
import { createPeriodic, withTimeout, type Logger } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { EVENTS } from '../events.ts';

const STATUSES = ['queued', 'relay', 'deferred', 'held'] as const;
const KEEP = "interval '1 day'";

export interface QueueSamplerDeps {
  pool: Pool;
  redis: Redis;
  prefix: string;
  logger: Logger;
  intervalMs: number;
}

export function createQueueSampler({ pool, redis, prefix, logger, intervalMs }: QueueSamplerDeps) {
  const producers: Producer<QueueName>[] = Object.values(QUEUE).map((name) => createProducer(name, redis, prefix));

  /** One sample now; null when another replica is taking one. */
  async function sample(): Promise<Record<string, number> | null> {
    return withAdvisoryLock(
      pool,
      LOCKS.queueSampler,
      async (c) => {
        const depths: Record<string, number> = {};
        // Redis away: the PostgreSQL half is still worth having.
        for (const p of producers) {
          const s = await withTimeout(p.stats(), 2000, `statistics of ${p.name}`).catch(() => null);
          if (s) depths[p.name] = s.waiting + s.active + s.delayed + s.prioritized;
        }
        // recipients_unfinished_idx covers queued/relay/deferred, recipients_held_idx held.
        const r = await c.query<{ status: string; n: string }>(
          `SELECT status, count(*) AS n FROM recipients WHERE status IN ('queued', 'relay', 'deferred') GROUP BY status
           UNION ALL SELECT 'held', count(*) FROM recipients WHERE status = 'held'`,
        );
        for (const s of STATUSES) depths[s] = 0;
        for (const x of r.rows) depths[x.status] = Number(x.n);
        await c.query('INSERT INTO queue_samples (at, depths) VALUES (now(), $1) ON CONFLICT (at) DO NOTHING', [JSON.stringify(depths)]);
        await c.query(`DELETE FROM queue_samples WHERE at < now() - ${KEEP}`);
        await c.query(`DELETE FROM traffic_minutes WHERE minute < now() - ${KEEP}`);
        return depths;
      },
      { scope: 'transaction' },
    );
  }

  const periodic = createPeriodic(sample, {
    intervalMs,
    firstDelayMs: 0,
    onError: (err) => logger.warn({ event: EVENTS.queueSampleFailed, err }, 'queue depth sample failed; retrying later'),
  });
  return {
    sample,
    start: () => periodic.start(),
    async stop() {
      await periodic.stop();
      await Promise.all(producers.map((p) => p.close().catch(() => {})));
    },
  };
}
