// "250 only after commit" (DESIGN.md): one INSERT statement commits the message and its
// recipients, then the route-message job is added. The job is an optimisation of the
// reconciler's scan: when Redis fails after the commit the message is already safe.

import { insertMessage, type NewMessage, type Pool } from '@hopmail/db';
import type { Producer } from '@hopmail/queue';
import { IngressError } from '../errors.ts';

export interface MessageStore {
  /** Throws IngressError('storeFailed') when nothing was committed. */
  commit(m: NewMessage): Promise<{ enqueued: true } | { enqueued: false; error: unknown }>;
}

export function createMessageStore(deps: { pool: Pool; producer: Producer<'route-message'>; enqueueTimeoutMs: number }): MessageStore {
  return {
    async commit(m) {
      try {
        await insertMessage(deps.pool, m);
      } catch (err) {
        throw new IngressError('storeFailed', `message ${m.id} not stored: ${(err as Error).message}`, err);
      }
      // ioredis queues commands while disconnected (maxRetriesPerRequest: null), so a
      // Redis outage would hang the DATA reply; bound the wait. A late add is harmless:
      // the job id is the message id.
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          deps.producer.add({ messageId: m.id }),
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
