// Adding a job for work PostgreSQL already records (PostgreSQL decides, Redis carries): the
// DSN that finish() owes, the DSN message that routing must deliver. When Redis fails or does
// not answer, the caller goes on; a reconciler adds the job later from PostgreSQL.
import type { Payload, Producer, QueueName } from '@hopmail/queue';
import { withTimeout } from '@hopmail/service-kit';
import type { Logger } from 'pino';

// BullMQ's connection queues commands while Redis is away (queueRedis); a job that waited
// that long for one add would hold its worker slot. The add may still land later: harmless,
// job ids are deterministic.
export const HAND_OFF_TIMEOUT_MS = 5000;

export interface HandOffFailure {
  logger: Logger;
  /** Logged (warn) with `fields` and the error when the jobs could not be added. */
  event: string;
  fields: Record<string, unknown>;
  message: string;
}

/** Adds the jobs in one round trip; true when they were added, false (logged) when not. */
export async function handOff<N extends QueueName>(producer: Producer<N>, payloads: readonly Payload<N>[], failure: HandOffFailure): Promise<boolean> {
  if (payloads.length === 0) return true;
  try {
    await withTimeout(producer.addBulk(payloads), HAND_OFF_TIMEOUT_MS, `${producer.name} enqueue`);
    return true;
  } catch (err) {
    failure.logger.warn({ event: failure.event, queue: producer.name, ...failure.fields, err }, failure.message);
    return false;
  }
}
