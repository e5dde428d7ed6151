// The route-message handler: store.loadQueued → resolve and plan (policy) → decide → store
// write, then the jobs the commit calls for. Idempotent: it only acts on recipients still
// `queued`, under a row lock, in one transaction; whatever it did before a crash is either
// committed in full or not at all, and the jobs it adds afterwards have deterministic ids.
import { createBatcher } from '@hopmail/db';
import { parseTlsReport, resolveRecipient, TlsReportError, tlsReportFromMessage, type Directory, type ResolveOptions } from '@hopmail/mail';
import { handOff, type Job, type Payload, type Producer } from '@hopmail/queue';
import type { Logger } from '@hopmail/service-kit';
import type { QuotaCache } from '../adapters/quota-cache.ts';
import { RoutingError } from '../errors.ts';
import { EVENTS } from '../events.ts';
import type { RoutingMetrics } from '../metrics.ts';
import { decide, decideInOrder, planRecipient, targetMailboxIds, type PlannedMessage, type PlannedRecipient, type RoutingDecision } from '../policy/route-policy.ts';
import { planWithReport, reportRecipients, type ReportAddressOptions, type ReportOutcome } from '../policy/tls-report-policy.ts';
import type { MessageWrite, RoutingStore, TlsReportStore, Written } from '../store.ts';

export interface RouteMessageDeps {
  store: RoutingStore;
  directory: Directory;
  quotas: QuotaCache;
  resolveOptions: ResolveOptions;
  relay: Producer<'deliver-remote'>;
  dsn: Producer<'send-dsn'>;
  logger: Logger;
  metrics: RoutingMetrics;
  /** The TLS-RPT report address (TLSRPT_LOCAL_PART) and the cap of a report (TLSRPT_MAX_BYTES). */
  tlsReports: { store: TlsReportStore; address: ReportAddressOptions; maxBytes: number };
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

/** A decision and what its write committed. */
interface Routed {
  decision: RoutingDecision;
  written: Written;
}

export interface RouteResult {
  /** null when nothing was queued any more (another job, or an earlier attempt, took it). */
  decision: RoutingDecision | null;
  relayJobs: string[];
  /** The send-dsn job added for recipients bounced now; null when none bounced (or Redis refused it). */
  dsnJob: string | null;
}

export function createRouteMessageHandler(deps: RouteMessageDeps): (payload: Payload<'route-message'>, job?: Pick<Job, 'id'>) => Promise<RouteResult> {
  const { store, directory, quotas, resolveOptions, relay, dsn, logger, metrics, tlsReports } = deps;
  const load = createBatcher(
    (ids: readonly string[]) => store.loadQueued(ids),
    async (id: string) => (await store.loadQueued([id]))[0]!,
    { maxInFlight: BATCHES_IN_FLIGHT },
  );
  // A message twice in one statement would be ambiguous (which copy took the rows?): the
  // key keeps a redelivered job out of the batch that holds the original. A batch that
  // fails (a deleted mailbox's foreign key) is run again message by message, and then the
  // message whose mailbox is gone takes the careful path.
  const write = createBatcher<MessageWrite, Written | null | 'conflict'>(
    (items) => store.write(items),
    (item) =>
      store.write([item]).then(
        (r) => r[0]!,
        (err: unknown) => {
          if (err instanceof RoutingError && err.kind === 'mailboxGone') return 'conflict';
          throw err;
        },
      ),
    { maxInFlight: BATCHES_IN_FLIGHT, key: (item) => item.messageId },
  );
  // The careful path (quotas, a mailbox gone) is batched the same way: one transaction in
  // which each message is decided after the previous one's copies counted against the quotas.
  const routeLocked = (items: readonly PlannedMessage[]): Promise<(Routed | null)[]> =>
    store.transaction(async (tx) => {
      const facts = await tx.lockFacts(items.map((it) => ({ messageId: it.messageId, recipientIds: it.planned.map((p) => p.id), mailboxIds: targetMailboxIds(it.planned) })));
      const decisions = decideInOrder(items, facts);
      const writes: MessageWrite[] = [];
      decisions.forEach((decision, i) => decision && writes.push({ messageId: items[i]!.messageId, size: items[i]!.size, decision }));
      const written = writes.length > 0 ? await tx.write(writes) : [];
      let w = 0;
      return decisions.map((decision) => {
        if (!decision) return null;
        const done = written[w++];
        return done ? { decision, written: done } : null;
      });
    });
  const writeCarefully = createBatcher<PlannedMessage, Routed | null>(routeLocked, async (item) => (await routeLocked([item]))[0]!, {
    maxInFlight: BATCHES_IN_FLIGHT,
    key: (item) => item.messageId,
  });

  // The bounce is committed: if Redis fails now, outbound-relay's scheduler finds the DSN owed
  // in PostgreSQL. ensure: a failed job kept under this id is retried, not silently kept.
  const enqueueDsn = async (messageId: string, log: Logger, reason: 'failed' | 'success' = 'failed'): Promise<string | null> =>
    (await handOff(dsn, [{ messageId, reason }], { logger: log, event: EVENTS.dsnEnqueueFailed, message: 'send-dsn job not added; the relay scheduler adds it from PostgreSQL', ensure: true }))?.[0] ?? null;

  /** Finds, parses and stores the report the message carries (RFC 8460 §5.3). Never logs the body. */
  async function takeReport(messageId: string, rcpts: string[], log: Logger): Promise<ReportOutcome> {
    const raw = await tlsReports.store.raw(messageId);
    if (!raw) throw new RoutingError('messageMissing', `message ${messageId} does not exist`);
    let report;
    try {
      report = parseTlsReport(tlsReportFromMessage(raw, { maxBytes: tlsReports.maxBytes }), { maxBytes: tlsReports.maxBytes });
    } catch (err) {
      if (!(err instanceof TlsReportError)) throw err;
      metrics.tlsReports.inc({ result: 'invalid' });
      log.warn({ event: EVENTS.tlsReportInvalid, rcpts, reason: err.message }, 'mail to the TLS-RPT report address is not a report');
      return { kind: 'invalid', reason: err.message };
    }
    const saved = await tlsReports.store.save(report);
    const domains = [...report.domains.keys()];
    const fields = { rcpts, organization: report.organization, reportId: report.reportId, domains, ours: saved.ours, stored: saved.stored };
    if (saved.ours.length === 0) {
      metrics.tlsReports.inc({ result: 'not-ours' });
      log.warn({ event: EVENTS.tlsReportNotOurs, ...fields }, 'TLS-RPT report about no domain of ours: not stored');
    } else {
      metrics.tlsReports.inc({ result: saved.stored.length > 0 ? 'stored' : 'duplicate' });
      log.info({ event: EVENTS.tlsReportTaken, ...fields }, 'TLS-RPT report taken');
    }
    return { kind: 'taken', organization: report.organization, reportId: report.reportId, domains, ours: saved.ours };
  }

  return async ({ messageId }, job) => {
    const log = logger.child({ jobId: job?.id, msgId: messageId, queue: 'route-message' });
    const message = await load(messageId);
    if (!message) throw new RoutingError('messageMissing', `message ${messageId} does not exist`);

    let routed: Routed | null = null;
    if (message.recipients.length > 0) {
      const planned: PlannedRecipient[] = await mapLimit(message.recipients, RESOLVE_PARALLELISM, async (r) => ({
        id: r.id,
        address: r.address,
        plan: planRecipient(await resolveRecipient(r.address, directory, resolveOptions)),
      }));
      // Mail to the TLS-RPT report address: the report is taken before the recipients are
      // written, so a recipient is never final before its report is stored; a job run again
      // stores nothing twice (saveReceivedTlsReport: ON CONFLICT DO NOTHING).
      const reportTo = reportRecipients(planned, tlsReports.address);
      if (reportTo.length > 0) {
        const outcome = await takeReport(messageId, reportTo.map((p) => p.address), log);
        for (const p of reportTo) p.plan = planWithReport(p.plan, outcome);
      }
      const item: PlannedMessage = { messageId, size: message.size, planned, nullSender: message.mailFrom === '' };
      // One statement when no target mailbox has a quota (the common case); otherwise, or
      // when a mailbox vanished, the locking transaction that checks quota and existence.
      if (await quotas.allUnlimited(targetMailboxIds(planned))) {
        const decision = decide(planned, () => 'ok', item.nullSender);
        const fast = await write({ messageId, size: message.size, decision });
        routed = fast === 'conflict' ? await writeCarefully(item) : fast && { decision, written: fast };
      } else {
        routed = await writeCarefully(item);
      }
      if (routed) record({ decision: routed.decision, planned, log, metrics });
    }

    // The write returned the relay domains it made due. A job that took nothing (a
    // redelivered job whose earlier attempt committed and died before this point, or one
    // that lost the race to another) reads them once: the relay rows in PostgreSQL say
    // which jobs must exist.
    const domains = routed ? routed.written.relayDomains : await store.dueRelayDomains(messageId);
    // Both go out together when both are due (enqueueDsn never throws).
    const dsnJob = routed?.written.bounced ? enqueueDsn(messageId, log) : null;
    // NOTIFY=SUCCESS (RFC 3461 §6.2): delivered into a mailbox or expanded here; the relay's send-dsn writes it.
    const successJob = routed?.written.success ? enqueueDsn(messageId, log, 'success') : null;
    const relayJobs = domains.length > 0 ? await relay.addBulk(domains.map((domain) => ({ messageId, domain }))) : [];
    if (relayJobs.length > 0) log.debug({ event: EVENTS.relayEnqueued, relayJobs }, 'deliver-remote jobs added');
    await successJob;
    return { decision: routed?.decision ?? null, relayJobs, dsnJob: await dsnJob };
  };
}

function record({ decision, planned, log, metrics }: { decision: RoutingDecision; planned: readonly PlannedRecipient[]; log: Logger; metrics: RoutingMetrics }): void {
  const address = new Map(planned.map((p) => [p.id, p.address]));
  metrics.deliveries.inc({ outcome: 'mailbox' }, decision.mailboxRows.length);
  let relayed = 0;
  let bounced = 0;
  for (const c of decision.children) {
    if (c.status === 'relay') {
      relayed++;
      metrics.deliveries.inc({ outcome: 'relay' });
    } else {
      bounced++;
      metrics.deliveries.inc({ outcome: 'bounced-target' });
      log.info({ event: EVENTS.recipientBounced, rcpt: c.address, via: address.get(c.originalId), status: c.status, reply: c.reply }, 'alias target bounced');
    }
  }
  for (const u of decision.updates) {
    if (u.status === 'relay') {
      relayed++;
      metrics.deliveries.inc({ outcome: 'relay' });
    } else if (u.status === 'bounced' || u.status === 'failed') {
      bounced++;
      metrics.deliveries.inc({ outcome: `bounced-${u.reason ?? 'unknown'}` });
      log.info({ event: EVENTS.recipientBounced, rcpt: address.get(u.id), status: u.status, reply: u.reply }, 'recipient bounced');
    }
  }
  log.info({ event: EVENTS.routeDone, recipients: decision.updates.length, mailboxes: decision.mailboxRows.length, relayed, bounced }, 'message routed');
}
