// Moves public trace events from PostgreSQL to the Redis stream (the @hopmail/events outbox),
// in one replica at a time: the others find LOCKS.outbox taken and wait for the next tick.
import type { Pool } from '@hopmail/db';
import { publishPending } from '@hopmail/events';
import { createPeriodic, type Logger } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { EVENTS } from '../events.ts';

const BATCH = 1000;

export interface EventPublisherDeps {
  pool: Pool;
  /** Fail-fast: an XADD while Redis is away fails at once instead of holding the transaction open. */
  redis: Redis;
  prefix: string;
  intervalMs: number;
  maxLen: number;
  logger: Logger;
}

export function createEventPublisher({ pool, redis, prefix, intervalMs, maxLen, logger }: EventPublisherDeps) {
  let failing = false;

  /** Publishes until no full batch comes back, so a backlog clears without waiting a tick each. */
  async function drain(): Promise<void> {
    for (;;) {
      const n = await publishPending(pool, redis, prefix, { batch: BATCH, maxLen });
      if (n === null || n < BATCH || periodic.closing) return;
    }
  }

  // One warning per outage, not one per tick.
  const periodic = createPeriodic(
    async () => {
      try {
        await drain();
        if (failing) logger.info({ event: EVENTS.publishRecovered }, 'event publishing works again');
        failing = false;
      } catch (err) {
        if (!failing) logger.warn({ event: EVENTS.publishFailed, err }, 'could not publish events; retrying');
        failing = true;
      }
    },
    { intervalMs, firstDelayMs: 0 },
  );
  return { drain, start: () => periodic.start(), stop: () => periodic.stop() };
}
