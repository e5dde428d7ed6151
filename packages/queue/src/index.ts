// The one queue contract (CONVENTIONS §5): names, payload schemas, producers, workers.
// Payloads carry ids only. Job ids are deterministic so that re-adding is harmless.

import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions, type WorkerOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';

export { UnrecoverableError, type Job };

export const QUEUE = {
  routeMessage: 'route-message',
  deliverRemote: 'deliver-remote',
} as const;
export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

export const payloadSchemas = {
  'route-message': z.object({ messageId: uuid }).strict(),
  'deliver-remote': z.object({ messageId: uuid, domain: z.string().min(1).max(255) }).strict(),
} as const;

export type Payload<N extends QueueName> = z.infer<(typeof payloadSchemas)[N]>;

/**
 * BullMQ forbids ':' in custom ids (it is its key separator), so the relay id is
 * `<messageId>@<domain>` rather than DESIGN.md's `<messageId>:<domain>`.
 */
export function jobIdFor<N extends QueueName>(name: N, payload: Payload<N>): string {
  switch (name) {
    case 'route-message':
      return payload.messageId;
    case 'deliver-remote':
      return `${payload.messageId}@${(payload as Payload<'deliver-remote'>).domain.toLowerCase()}`;
    default: {
      const never: never = name;
      throw new Error(`unknown queue ${String(never)}`);
    }
  }
}

const defaultJobOptions: Record<QueueName, JobsOptions> = {
  // Completed jobs are removed so that a later re-add (reconciler, admin retry) is not a
  // silent no-op against a stale completed id. Failed ones are kept for inspection.
  'route-message': { attempts: 8, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: { age: 7 * 86400, count: 10_000 } },
  'deliver-remote': { attempts: 1, removeOnComplete: true, removeOnFail: { age: 7 * 86400, count: 10_000 } },
};

export interface RedisConfig {
  url: string;
  prefix: string;
}

/** ioredis connection suitable for BullMQ (workers need maxRetriesPerRequest: null). */
export function createRedis(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false, ...extra });
}

export type Producer<N extends QueueName> = {
  queue: Queue;
  add(payload: Payload<N>, opts?: JobsOptions): Promise<string>;
  close(): Promise<void>;
};

export function createProducer<N extends QueueName>(name: N, connection: Redis, prefix: string): Producer<N> {
  const queue = new Queue(name, { connection, prefix, defaultJobOptions: defaultJobOptions[name] });
  queue.on('error', () => {}); // surfaced through readiness and the callers' own errors
  return {
    queue,
    async add(payload, opts) {
      const data = payloadSchemas[name].parse(payload);
      const jobId = jobIdFor(name, data as Payload<N>);
      await queue.add(name, data, { ...opts, jobId });
      return jobId;
    },
    close: () => queue.close(),
  };
}

export type Handler<N extends QueueName> = (payload: Payload<N>, job: Job) => Promise<void>;

/**
 * A worker whose handler only ever sees a valid payload. An invalid payload is a
 * permanent failure (UnrecoverableError): retrying cannot fix it.
 */
export function createWorker<N extends QueueName>(
  name: N,
  handler: Handler<N>,
  connection: Redis,
  prefix: string,
  options: Partial<WorkerOptions> = {},
): Worker {
  return new Worker(
    name,
    async (job: Job) => {
      const parsed = payloadSchemas[name].safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`invalid ${name} payload: ${parsed.error.message}`);
      await handler(parsed.data as Payload<N>, job);
    },
    { connection, prefix, concurrency: 16, ...options },
  );
}

/**
 * Ensures a job exists for `payload`: adds it, or retries it when BullMQ kept it as failed.
 * Used by reconcilers, which decide from PostgreSQL that work is unfinished.
 * Returns what it did.
 */
export async function ensureJob<N extends QueueName>(producer: Producer<N>, name: N, payload: Payload<N>): Promise<'added' | 'retried' | 'present'> {
  const jobId = jobIdFor(name, payload);
  const existing = await producer.queue.getJob(jobId);
  if (!existing) {
    await producer.add(payload);
    return 'added';
  }
  const state = await existing.getState();
  if (state === 'failed') {
    await existing.retry('failed');
    return 'retried';
  }
  if (state === 'completed') {
    await existing.remove();
    await producer.add(payload);
    return 'added';
  }
  return 'present';
}
export * from './redis-policy.ts';
