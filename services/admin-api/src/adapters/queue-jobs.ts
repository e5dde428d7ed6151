// The Redis side of queue control: deliver-remote jobs for rows an admin action made due,
// route-message jobs for released rows that were never routed (held at submission), and the depth of the BullMQ queues. PostgreSQL stays the system of record: every call here
// is bounded, because the API keeps serving while Redis is away.
import { createProducer, ensureJob, type Payload, type Producer, type QueueName, type QueueStats } from '@hopmail/queue';
import { settleWithin, withTimeout } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';

/** ensureJob calls in flight at once. */
const WAKE_BATCH = 50;

export interface WakeResult {
  /** deliver-remote and route-message jobs added or revived. */
  jobs: number;
  /** What stopped the wake-up early (Redis away or too slow); null when every pair was done. */
  error: Error | null;
  /** Jobs left for the relay's scheduler (or routing's reconciler) when it stopped early. */
  pending: number;
}

export interface QueueJobs {
  /**
   * ensureJob(deliver-remote) for each (message, domain), a few at a time. Never throws: the
   * rows are already due in PostgreSQL, so the relay's scheduler picks up what is left.
   */
  wake(pairs: readonly Payload<'deliver-remote'>[]): Promise<WakeResult>;
  /**
   * ensureJob(route-message) for each message: released rows that were held before routing
   * (outgoing spam held at submission) go back through routing, which sends local recipients
   * to their mailbox and only remote ones to the relay. Never throws: routing's reconciler
   * picks up queued rows that have no job.
   */
  route(messageIds: readonly string[]): Promise<WakeResult>;
  /** route-message and deliver-remote: depth and oldest job. Throws when Redis does not answer in time. */
  stats(): Promise<QueueStats[]>;
  /** Closes the producers; never waits more than a moment for an absent Redis. */
  close(): Promise<void>;
}

export interface QueueJobsDeps {
  /** The queue connection (BullMQ's). */
  redis: Redis;
  prefix: string;
  /** Budget of each Redis step. */
  timeoutMs: number;
}

export function createQueueJobs({ redis, prefix, timeoutMs }: QueueJobsDeps): QueueJobs {
  const route = createProducer('route-message', redis, prefix);
  const relay = createProducer('deliver-remote', redis, prefix);
  async function ensureAll<Q extends QueueName>(producer: Producer<Q>, payloads: readonly Payload<Q>[]): Promise<WakeResult> {
    let jobs = 0;
    let i = 0;
    try {
      for (; i < payloads.length; i += WAKE_BATCH) {
        const done = await withTimeout(Promise.all(payloads.slice(i, i + WAKE_BATCH).map((p) => ensureJob(producer, p))), timeoutMs, `adding ${producer.name} jobs`);
        jobs += done.filter((x) => x !== 'present').length;
      }
    } catch (err) {
      return { jobs, error: err as Error, pending: payloads.length - i };
    }
    return { jobs, error: null, pending: 0 };
  }
  return {
    wake: (pairs) => ensureAll(relay, pairs),
    route: (messageIds) => ensureAll(route, messageIds.map((messageId) => ({ messageId }))),
    async stats() {
      const out: QueueStats[] = [];
      for (const producer of [route, relay]) out.push(await withTimeout(producer.stats(), timeoutMs, `statistics of ${producer.name}`));
      return out;
    },
    async close() {
      // Closing a BullMQ queue waits for Redis; with Redis away, do not let it hold shutdown.
      await settleWithin(Promise.all([route.close(), relay.close()]), 2000);
    },
  };
}
