// "250 only after commit" (DESIGN.md): one INSERT statement commits the message and its
// recipients (group commit: messages finishing together share the statement), then the
// route-message job is added. The job is an optimisation of the
// reconciler's scan: when Redis fails after the commit the message is already safe.

import { createGroupCommitter, type NewMessage, type Pool } from '@hopmail/db';
import { jobIdFor, payloadSchemas, QUEUE, type Producer } from '@hopmail/queue';
import { IngressError } from '../errors.ts';

export interface MessageStore {
  /** Throws IngressError('storeFailed') when nothing was committed. */
  commit(m: NewMessage): Promise<{ enqueued: true } | { enqueued: false; error: unknown }>;
}

/** Most jobs one addBulk carries. */
const MAX_BATCH = 100;

/**
 * Adds route-message jobs for messages committed in the same event-loop turn with one
 * addBulk (one Redis round trip instead of one each): under load many sessions commit at
 * once. Same payload schema and deterministic job id as Producer#add.
 */
export function createBatchedEnqueue(producer: Producer<'route-message'>): (messageId: string) => Promise<void> {
  type Pending = { messageId: string; resolve: () => void; reject: (err: unknown) => void };
  let batch: Pending[] = [];
  const flush = () => {
    const jobs = batch;
    if (jobs.length === 0) return;
    batch = [];
    let bulk;
    try {
      bulk = jobs.map((j) => {
        const data = payloadSchemas[QUEUE.routeMessage].parse({ messageId: j.messageId });
        return { name: QUEUE.routeMessage, data, opts: { jobId: jobIdFor(QUEUE.routeMessage, data) } };
      });
    } catch (err) {
      for (const j of jobs) j.reject(err);
      return;
    }
    producer.queue.addBulk(bulk).then(
      () => {
        for (const j of jobs) j.resolve();
      },
      (err: unknown) => {
        for (const j of jobs) j.reject(err);
      },
    );
  };
  return (messageId) =>
    new Promise<void>((resolve, reject) => {
      batch.push({ messageId, resolve, reject });
      if (batch.length === 1) setImmediate(flush);
      else if (batch.length >= MAX_BATCH) flush();
    });
}

export function createMessageStore(deps: { pool: Pool; producer: Producer<'route-message'>; enqueueTimeoutMs: number }): MessageStore {
  const enqueue = createBatchedEnqueue(deps.producer);
  // Sessions that finish DATA together share one commit; each still gets its 250 only
  // after its own rows are committed.
  const committer = createGroupCommitter(deps.pool);
  return {
    async commit(m) {
      try {
        await committer.insert(m);
      } catch (err) {
        throw new IngressError('storeFailed', `message ${m.id} not stored: ${(err as Error).message}`, err);
      }
      // ioredis queues commands while disconnected (maxRetriesPerRequest: null), so a
      // Redis outage would hang the DATA reply; bound the wait. A late add is harmless:
      // the job id is the message id.
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          enqueue(m.id),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`enqueue timed out after ${deps.enqueueTimeoutMs} ms`)), deps.enqueueTimeoutMs);
          }),
        ]);
        return { enqueued: true };
      } catch (error) {
        return { enqueued: false, error };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
