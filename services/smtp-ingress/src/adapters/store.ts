// The MessageStore port on PostgreSQL and BullMQ. "250 only after commit" (DESIGN.md): one
// INSERT statement commits the message and its recipients (group commit: messages finishing
// together share the statement), then the route-message job is added. The job only spares
// routing's reconciler a scan: when Redis fails after the commit the message is already safe.

import { createBatcher, createGroupCommitter, type Pool } from '@hopmail/db';
import { MAX_ROUTE_BATCH, type Producer } from '@hopmail/queue';
import { withTimeout } from '@hopmail/service-kit';
import { IngressError } from '../errors.ts';
import type { CommitResult, MessageStore } from '../ports.ts';

const ENQUEUED: CommitResult = { enqueued: true };

/**
 * Messages committed together go to routing as one route-message job (`also`): one Redis
 * round trip, and one job for BullMQ to move through its states, instead of one each; under
 * load many sessions commit at once. The job id is the first message's id, so an add that
 * lands after its caller stopped waiting changes nothing.
 */
export function createRouteEnqueuer(producer: Producer<'route-message'>): (payload: { messageId: string }) => Promise<string> {
  return createBatcher(
    async (payloads: readonly { messageId: string }[]) => {
      const [messageId, ...also] = new Set(payloads.map((p) => p.messageId));
      const id = await producer.add(also.length > 0 ? { messageId: messageId!, also } : { messageId: messageId! });
      return payloads.map(() => id);
    },
    (payload: { messageId: string }) => producer.add({ messageId: payload.messageId }),
    { maxBatch: MAX_ROUTE_BATCH },
  );
}

export function createMessageStore(deps: { pool: Pool; producer: Producer<'route-message'>; enqueueTimeoutMs: number }): MessageStore {
  const enqueue = createRouteEnqueuer(deps.producer);
  // Sessions that finish DATA together share one commit; each still gets its 250 only
  // after its own rows are committed.
  const committer = createGroupCommitter(deps.pool);
  return {
    async commit(message) {
      try {
        await committer.insert(message);
      } catch (err) {
        throw new IngressError('storeFailed', `message ${message.id} not stored: ${(err as Error).message}`, err);
      }
      // Held recipients wait for an operator's release (admin-api), not for routing.
      if (message.held) return ENQUEUED;
      // BullMQ's connection queues commands while Redis is away, so an outage would hang
      // the DATA reply: bound the wait.
      try {
        await withTimeout(enqueue({ messageId: message.id }), deps.enqueueTimeoutMs, 'route-message enqueue');
        return ENQUEUED;
      } catch (error) {
        return { enqueued: false, error };
      }
    },
  };
}
