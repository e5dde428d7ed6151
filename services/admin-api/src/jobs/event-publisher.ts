// Moves public trace events from PostgreSQL to the Redis stream (packages/events outbox),
// in one replica at a time; the others find the advisory lock taken and wait for the next tick.
import type { Pool } from '@hopmail/db';
import { publishPending } from '@hopmail/events';
import type { Logger } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';

export function createEventPublisher(d: { pool: Pool; redis: Redis; prefix: string; intervalMs: number; maxLen: number; logger: Logger }) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let failing = false;

  async function drain(): Promise<void> {
    // Keep going while full batches come back, so a backlog clears without waiting a tick each.
    for (;;) {
      const n = await publishPending(d.pool, d.redis, d.prefix, { batch: 1000, maxLen: d.maxLen });
      if (n === null || n < 1000 || stopped) return;
    }
  }

  const loop = () => {
    if (stopped) return;
    running = drain()
      .then(() => {
        if (failing) d.logger.info({ event: 'events.publish-recovered' }, 'event publishing works again');
        failing = false;
      })
      .catch((err) => {
        if (!failing) d.logger.warn({ event: 'events.publish-failed', err }, 'could not publish events; retrying');
        failing = true;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, d.intervalMs);
      });
  };

  return {
    start() {
      loop();
    },
    /** One pass now (tests). */
    drain,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
