// The route-message handler. Idempotent: it only acts on recipients still `queued`, under a
// row lock, in one transaction; whatever it did before a crash is either committed in full
// or not at all, and the relay jobs it adds afterwards have deterministic ids.
import { createBatcher, type Pool } from '@hopmail/db';
import { resolveRecipient, type Directory, type ResolveOptions } from '@hopmail/mail';
import type { Job, Payload, Producer } from '@hopmail/queue';
import type { Logger } from '@hopmail/service-kit';
import { commitFast, commitFastMany, commitRouting, commitRoutingMany, dueRelayDomains, loadQueued, loadQueuedMany, QuotaCache, type FastCommit } from '../adapters/pg-store.ts';
import { RoutingError } from '../errors.ts';
import type { RoutingMetrics } from '../metrics.ts';
import { planRecipient, targetMailboxIds, type Outcome, type PlannedRecipient } from '../policy/route-policy.ts';

export interface RouteMessageDeps {
  pool: Pool;
  directory: Directory;
  quotas: QuotaCache;
  resolveOptions: ResolveOptions;
  relay: Producer<'deliver-remote'>;
  logger: Logger;
  metrics: RoutingMetrics;
}

// Lookups per message in flight at once: a 1,000-recipient message must not take every
// pooled connection from the other jobs.
const RESOLVE_PARALLELISM = 4;

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

// Jobs in flight at once share round trips: their reads are one SELECT and their fast-path
// writes one statement (createBatcher), so PostgreSQL pays one plan, one trigger run and one
// commit per batch rather than per message. Batches in flight per stage:
const BATCHES_IN_FLIGHT = 3;

export type RouteResult = { outcome: Outcome | null; relayJobs: string[] };

export function createRouteMessageHandler(deps: RouteMessageDeps): (payload: Payload<'route-message'>, job?: Pick<Job, 'id'>) => Promise<RouteResult> {
  const { pool, directory, quotas, resolveOptions, relay, logger, metrics } = deps;
  const load = createBatcher(
    (ids: readonly string[]) => loadQueuedMany(pool, ids),
    (id: string) => loadQueued(pool, id),
    { maxInFlight: BATCHES_IN_FLIGHT },
  );
  // A message twice in one statement would be ambiguous (which copy took the rows?): the
  // key keeps a redelivered job out of the batch that holds the original.
  const write = createBatcher<FastCommit, Awaited<ReturnType<typeof commitFast>>>(
    (items) => commitFastMany(pool, items),
    (item) => commitFast(pool, item),
    { maxInFlight: BATCHES_IN_FLIGHT, key: (item) => item.messageId },
  );
  // The careful path (quotas, a mailbox gone) is batched the same way: one transaction.
  const writeCarefully = createBatcher<FastCommit, Outcome | null>(
    (items) => commitRoutingMany(pool, items),
    (item) => commitRouting(pool, item),
    { maxInFlight: BATCHES_IN_FLIGHT, key: (item) => item.messageId },
  );

  return async ({ messageId }, job) => {
    const log = logger.child({ jobId: job?.id, msgId: messageId, queue: 'route-message' });
    const message = await load(messageId);
    if (!message) throw new RoutingError('messageMissing', `message ${messageId} does not exist`);

    let outcome: Outcome | null = null;
    if (message.recipients.length > 0) {
      const planned: PlannedRecipient[] = await mapLimit(message.recipients, RESOLVE_PARALLELISM, async (r) => ({
        id: r.id,
        address: r.address,
        plan: planRecipient(await resolveRecipient(r.address, directory, resolveOptions)),
      }));
      const nullSender = message.mailFrom === '';
      // One statement when no target mailbox has a quota (the common case); otherwise, or
      // when a mailbox vanished, the locking transaction that checks quota and existence.
      const item: FastCommit = { messageId, size: message.size, planned, nullSender };
      const fast = (await quotas.allUnlimited(targetMailboxIds(planned))) ? await write(item) : 'conflict';
      outcome = fast === 'conflict' ? await writeCarefully(item) : fast;
      if (outcome) record(outcome, planned, log, metrics);
    }

    // After the commit, and also when an earlier attempt committed but died before this
    // point (nothing was queued this time): the relay rows in PostgreSQL say which jobs
    // must exist. A pass that created no relay rows has nothing to add.
    const relayJobs: string[] = [];
    const mayRelay = !outcome || outcome.children.some((c) => c.status === 'relay') || outcome.updates.some((u) => u.status === 'relay');
    for (const domain of mayRelay ? await dueRelayDomains(pool, messageId) : []) {
      relayJobs.push(await relay.add({ messageId, domain }));
    }
    if (relayJobs.length > 0) log.debug({ event: 'route.relay-enqueued', relayJobs }, 'deliver-remote jobs added');
    return { outcome, relayJobs };
  };
}

function record(outcome: Outcome, planned: readonly PlannedRecipient[], log: Logger, metrics: RoutingMetrics): void {
  const address = new Map(planned.map((p) => [p.id, p.address]));
  metrics.deliveries.inc({ outcome: 'mailbox' }, outcome.mailboxRows.length);
  let relayed = 0;
  let bounced = 0;
  for (const c of outcome.children) {
    if (c.status === 'relay') {
      relayed++;
      metrics.deliveries.inc({ outcome: 'relay' });
    } else {
      bounced++;
      metrics.deliveries.inc({ outcome: 'bounced-target' });
      log.info({ event: 'recipient.bounced', rcpt: c.address, via: address.get(c.originalId), status: c.status, reply: c.reply }, 'alias target bounced');
    }
  }
  for (const u of outcome.updates) {
    if (u.status === 'relay') {
      relayed++;
      metrics.deliveries.inc({ outcome: 'relay' });
    } else if (u.status === 'bounced' || u.status === 'failed') {
      bounced++;
      metrics.deliveries.inc({ outcome: `bounced-${u.reason ?? 'unknown'}` });
      log.info({ event: 'recipient.bounced', rcpt: address.get(u.id), status: u.status, reply: u.reply }, 'recipient bounced');
    }
  }
  log.info(
    { event: 'route.done', recipients: outcome.updates.length, mailboxes: outcome.mailboxRows.length, relayed, bounced },
    'message routed',
  );
}
