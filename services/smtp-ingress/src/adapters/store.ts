// The MessageStore port on PostgreSQL and BullMQ. "250 only after commit" (DESIGN.md): one
// INSERT statement commits the message and its recipients (group commit: messages finishing
// together share the statement), and commit() resolves then: the 250 goes out. The
// route-message job follows in the background: it only spares routing's reconciler a scan, so
// when Redis fails after the commit the message is already safe, and waiting for Redis before
// the 250 only held the client back.

import { createBatcher, createGroupCommitter, type Pool } from '@hopmail/db';
import { MAX_ROUTE_BATCH, type Producer } from '@hopmail/queue';
import { withTimeout } from '@hopmail/service-kit';
import { IngressError } from '../errors.ts';
import type { MessageStore } from '../ports.ts';

/**
 * Messages committed together go to routing as one route-message job (`also`): one Redis
 * round trip, and one job for BullMQ to move through its states, instead of one each. Jobs
 * start at most every `windowMs`: under load the messages committed within a window share a
 * job (and so routing's reads, writes and commits), while a message after a quiet spell goes
 * at once. The job id is the first message's id, so an add that lands late changes nothing.
 */
export function createRouteEnqueuer(producer: Producer<'route-message'>, windowMs = 0): (payload: { messageId: string }) => Promise<string> {
  return createBatcher(
    async (payloads: readonly { messageId: string }[]) => {
      const [messageId, ...also] = new Set(payloads.map((p) => p.messageId));
      const id = await producer.add(also.length > 0 ? { messageId: messageId!, also } : { messageId: messageId! });
      return payloads.map(() => id);
    },
    (payload: { messageId: string }) => producer.add({ messageId: payload.messageId }),
    { maxBatch: MAX_ROUTE_BATCH, minIntervalMs: windowMs },
  );
}

export interface MessageStoreDeps {
  pool: Pool;
  producer: Producer<'route-message'>;
  /** An add that has not finished within this long counts as failed (SMTP_ENQUEUE_TIMEOUT_MS). */
  enqueueTimeoutMs: number;
  /** SMTP_ENQUEUE_WINDOW_MS: see createRouteEnqueuer. */
  enqueueWindowMs?: number;
  /** SMTP_COMMITS_IN_FLIGHT: group commits (statements) at once; the messages finishing meanwhile wait for the next. */
  commitsInFlight?: number;
  /** A committed message whose job was not added (the reconciler re-enqueues it). */
  onEnqueueFailed: (messageId: string, error: unknown) => void;
}

export function createMessageStore(deps: MessageStoreDeps): MessageStore & { drain(): Promise<void> } {
  const enqueue = createRouteEnqueuer(deps.producer, deps.enqueueWindowMs ?? 0);
  // Sessions that finish DATA together share one commit; each still gets its 250 only
  // after its own rows are committed.
  const committer = createGroupCommitter(deps.pool, { maxInFlight: deps.commitsInFlight ?? 1 });
  const handOffs = new Set<Promise<void>>();
  return {
    async commit(message) {
      try {
        await committer.insert(message);
      } catch (err) {
        throw new IngressError('storeFailed', `message ${message.id} not stored: ${(err as Error).message}`, err);
      }
      // Held recipients wait for an operator's release (admin-api), not for routing.
      if (message.held) return;
      // BullMQ's connection queues commands while Redis is away: the wait is bounded.
      const handOff = withTimeout(enqueue({ messageId: message.id }), deps.enqueueTimeoutMs, 'route-message enqueue').then(
        () => {},
        (error: unknown) => deps.onEnqueueFailed(message.id, error),
      );
      handOffs.add(handOff);
      void handOff.finally(() => handOffs.delete(handOff));
    },
    /** Waits for the jobs of committed messages still on their way (shutdown, before Redis closes). */
    async drain() {
      while (handOffs.size > 0) await Promise.all([...handOffs]);
    },
  };
}
