// Adding jobs for work PostgreSQL already records (PostgreSQL decides, Redis carries): the
// DSN a bounce calls for, the route-message job of a DSN. When Redis fails or does not answer,
// the caller goes on and a reconciler adds the job later from PostgreSQL; so this never
// throws, it logs.
import { withTimeout } from '@hopmail/service-kit';
import { ensureJob, type Payload, type Producer, type QueueName } from './index.ts';

/**
 * BullMQ's connection queues commands while Redis is away (queueRedis); a job that waited
 * that long for one add would hold its worker slot. The add may still land later: harmless,
 * job ids are deterministic.
 */
export const HAND_OFF_TIMEOUT_MS = 5000;

export interface HandOffOptions {
  logger: { warn(obj: object, msg: string): void };
  /** Logged (warn) with `fields`, the queue and the error when the jobs could not be added. */
  event: string;
  message: string;
  fields?: Record<string, unknown>;
  timeoutMs?: number;
  /**
   * ensureJob for each payload instead of one addBulk: a job BullMQ kept as failed (it
   * exhausted its attempts) is retried rather than silently blocking its id. For rare jobs
   * (DSNs) whose id may recur.
   */
  ensure?: boolean;
}

/** Adds the jobs (one round trip unless `ensure`); their ids, or null (logged) when Redis failed. */
export async function handOff<N extends QueueName>(producer: Producer<N>, payloads: readonly Payload<N>[], options: HandOffOptions): Promise<string[] | null> {
  if (payloads.length === 0) return [];
  const add = options.ensure
    ? Promise.all(payloads.map((p) => ensureJob(producer, p))).then(() => payloads.map((p) => producer.jobId(p)))
    : producer.addBulk(payloads);
  try {
    return await withTimeout(add, options.timeoutMs ?? HAND_OFF_TIMEOUT_MS, `${producer.name} enqueue`);
  } catch (err) {
    options.logger.warn({ event: options.event, queue: producer.name, ...options.fields, err }, options.message);
    return null;
  }
}
