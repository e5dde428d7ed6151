// The one queue contract (CONVENTIONS §5): names, payload schemas, producers, workers.
// Payloads carry ids only. Job ids are deterministic so that re-adding is harmless.
// The Redis connection a producer or worker takes is service-kit's queueRedis().
import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';

export { UnrecoverableError, type Job };

export const QUEUE = {
  /** smtp-ingress (and DSNs) → routing: decide where each recipient of a committed message goes. */
  routeMessage: 'route-message',
  /** routing / relay scheduler → outbound-relay: one try at one message's recipients at one domain. */
  deliverRemote: 'deliver-remote',
  /** routing / outbound-relay → outbound-relay's DSN writer (Postfix's bounce(8)): report failures or delays to the sender. */
  sendDsn: 'send-dsn',
} as const;

export type QueueName = (typeof QUEUE)[keyof typeof QUEUE];

const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

/**
 * Why a DSN is owed: recipients that failed for good (RFC 3464 Action: failed), are late
 * (Action: delayed), or were delivered or expanded and asked for it with NOTIFY=SUCCESS
 * (Action: delivered, relayed, expanded; RFC 3461 §4.1).
 */
export const DSN_REASONS = ['failed', 'delayed', 'success'] as const;
export type DsnReason = (typeof DSN_REASONS)[number];

/** Most messages one route-message job carries (`messageId` and `also`). */
export const MAX_ROUTE_BATCH = 100;

export const payloadSchemas = {
  // `also`: more messages committed in the same statement (smtp-ingress's group commit), routed
  // by the same job. The job id is still `messageId`; each of `also` is routed as if it had its
  // own job, and the reconciler adds one for any that stays queued.
  'route-message': z.object({ messageId: uuid, also: z.array(uuid).min(1).max(MAX_ROUTE_BATCH - 1).optional() }).strict(),
  'deliver-remote': z.object({ messageId: uuid, domain: z.string().min(1).max(255) }).strict(),
  'send-dsn': z.object({ messageId: uuid, reason: z.enum(DSN_REASONS) }).strict(),
} as const;

export type Payload<N extends QueueName> = z.infer<(typeof payloadSchemas)[N]>;

/**
 * BullMQ forbids ':' in custom ids (it is its key separator), so the relay id is
 * `<messageId>@<domain>` rather than DESIGN.md's `<messageId>:<domain>`, and a DSN's is
 * `<messageId>/<reason>`.
 */
export function jobIdFor<N extends QueueName>(name: N, payload: Payload<N>): string {
  switch (name) {
    case 'route-message':
      return payload.messageId;
    case 'deliver-remote':
      return `${payload.messageId}@${(payload as Payload<'deliver-remote'>).domain.toLowerCase()}`;
    case 'send-dsn':
      return `${payload.messageId}/${(payload as Payload<'send-dsn'>).reason}`;
    default: {
      const never: never = name;
      throw new Error(`unknown queue ${String(never)}`);
    }
  }
}

const defaultJobOptions: Record<QueueName, JobsOptions> = {
  // Completed jobs are removed so that a later re-add (reconciler, admin retry, a second
  // bounce of the same message) is not a silent no-op against a stale completed id. Failed
  // ones are kept for inspection.
  'route-message': { attempts: 8, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: { age: 7 * 86400, count: 10_000 } },
  'deliver-remote': { attempts: 1, removeOnComplete: true, removeOnFail: { age: 7 * 86400, count: 10_000 } },
  'send-dsn': { attempts: 8, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: true, removeOnFail: { age: 7 * 86400, count: 10_000 } },
};

export interface QueueStats {
  name: QueueName;
  waiting: number;
  active: number;
  delayed: number;
  prioritized: number;
  failed: number;
  /** Age of the oldest waiting, prioritized, delayed or active job, seconds (0: none). */
  oldestAgeSeconds: number;
}

export interface Producer<N extends QueueName> {
  readonly name: N;
  /** BullMQ's queue, for tests that inspect jobs; services use the methods below. */
  readonly queue: Queue;
  /** Adds one job (validated payload, deterministic id); returns the job id. */
  add(payload: Payload<N>, opts?: JobsOptions): Promise<string>;
  /** Adds many jobs in one Redis round trip; returns their ids in order. */
  addBulk(payloads: readonly Payload<N>[]): Promise<string[]>;
  /** The deterministic job id of a payload. */
  jobId(payload: Payload<N>): string;
  /** The job with this payload's id, if BullMQ has it (reconcilers, admin actions). */
  getJob(payload: Payload<N>): Promise<Job | undefined>;
  stats(): Promise<QueueStats>;
  close(): Promise<void>;
}

export function createProducer<N extends QueueName>(name: N, connection: Redis, prefix: string): Producer<N> {
  const queue = new Queue(name, { connection, prefix, defaultJobOptions: defaultJobOptions[name] });
  queue.on('error', () => {}); // surfaced through readiness and the callers' own errors
  const prepare = (payload: Payload<N>) => {
    const data = payloadSchemas[name].parse(payload) as Payload<N>;
    return { data, jobId: jobIdFor(name, data) };
  };
  return {
    name,
    queue,
    async add(payload, opts) {
      const { data, jobId } = prepare(payload);
      await queue.add(name, data, { ...opts, jobId });
      return jobId;
    },
    async addBulk(payloads) {
      if (payloads.length === 0) return [];
      const jobs = payloads.map(prepare);
      await queue.addBulk(jobs.map(({ data, jobId }) => ({ name, data, opts: { jobId } })));
      return jobs.map((j) => j.jobId);
    },
    jobId: (payload) => prepare(payload).jobId,
    async getJob(payload) {
      return (await queue.getJob(prepare(payload).jobId)) ?? undefined;
    },
    async stats() {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'failed');
      let oldest = Infinity;
      for (const state of ['wait', 'prioritized', 'delayed', 'active'] as const) {
        for (const j of await queue.getJobs([state], 0, 0, true)) if (j?.timestamp) oldest = Math.min(oldest, j.timestamp);
      }
      return {
        name,
        waiting: c.wait ?? 0,
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        prioritized: c.prioritized ?? 0,
        failed: c.failed ?? 0,
        oldestAgeSeconds: oldest === Infinity ? 0 : Math.max(0, Math.round((Date.now() - oldest) / 1000)),
      };
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
export async function ensureJob<N extends QueueName>(producer: Producer<N>, payload: Payload<N>): Promise<'added' | 'retried' | 'present'> {
  const existing = await producer.getJob(payload);
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

export * from './hand-off.ts';
