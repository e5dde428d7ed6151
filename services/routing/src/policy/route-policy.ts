// What routing does with each recipient of a message: pure decisions, no I/O.
//
// Two steps, because the second needs facts only the delivery transaction can see:
//   planRecipient()  Resolution (from @hopmail/mail) → deliver / relay / bounce
//   decide()         plans + the state of each target mailbox (exists, over quota)
//                    → a RoutingDecision: mailbox rows to insert, recipient rows to add,
//                    statuses to set (RoutingStore.write stores it).
//   decideInOrder()  decide() for the messages of one locking transaction, from the facts
//                    RoutingStore.lockFacts found.

import type { MailboxRef, Resolution } from '@hopmail/mail';

export type BounceReason = 'unknown' | 'loop' | 'too-many' | 'invalid' | 'quota' | 'not-a-report';

export type RecipientPlan =
  /** Resolved inside our domains: copies for these mailboxes, relay rows for these addresses; `note`: last_reply when delivered or expanded (the TLS-RPT report taken). */
  | { kind: 'deliver'; mailboxes: MailboxRef[]; remote: string[]; note?: string }
  /** The envelope recipient itself is not at a local domain (authenticated submission, DSNs). */
  | { kind: 'relay' }
  | { kind: 'bounce'; reason: BounceReason }
  /** The TLS-RPT report address with no mailbox or alias of its own: the report taken (delivered), or no report (failed: discarded, no DSN). */
  | { kind: 'report'; taken: boolean; reply: string };

export function planRecipient(res: Resolution): RecipientPlan {
  switch (res.kind) {
    case 'ok':
      return { kind: 'deliver', mailboxes: res.mailboxes, remote: res.remote };
    case 'not-local':
      return { kind: 'relay' };
    case 'unknown':
    case 'loop':
    case 'too-many':
    case 'invalid':
      return { kind: 'bounce', reason: res.kind };
    default: {
      const never: never = res;
      throw new Error(`unhandled resolution ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The text stored in recipients.last_reply, in the shape of an SMTP reply so the DSN
 * (RFC 3464 Diagnostic-Code: smtp; …) can quote it as is. RFC 3463 codes:
 * 5.1.1 bad mailbox, 5.1.3 bad address syntax, 5.2.2 mailbox full (Dovecot LMTP's
 * answer for quota), 5.4.6 routing loop, 5.5.3 too many recipients.
 */
export function bounceReply(reason: BounceReason, address: string): string {
  switch (reason) {
    case 'unknown':
      return `550 5.1.1 <${address}>: no such user`;
    case 'loop':
      return `550 5.4.6 <${address}>: alias loop`;
    case 'too-many':
      return `550 5.5.3 <${address}>: alias expands to too many recipients`;
    case 'invalid':
      return `550 5.1.3 <${address}>: bad recipient address syntax`;
    case 'quota':
      return `552 5.2.2 <${address}>: mailbox full`;
    case 'not-a-report':
      return `550 5.6.0 <${address}>: not a TLS-RPT report; discarded`;
    default: {
      const never: never = reason;
      throw new Error(`unhandled bounce reason ${String(never)}`);
    }
  }
}

export interface QuotaFacts {
  /** 0 means unlimited. */
  quotaBytes: number;
  /** Bytes in the mailbox now (mailboxes.used_bytes, kept by mailbox_messages' triggers). */
  usedBytes: number;
  /** The mailbox already holds this message (a redelivered job): never "full" then. */
  alreadyHas: boolean;
}

/** Hard quota: the message is refused when it would take the mailbox past its quota. */
export function overQuota(q: QuotaFacts, messageSize: number): boolean {
  return q.quotaBytes > 0 && !q.alreadyHas && q.usedBytes + messageSize > q.quotaBytes;
}

/** What the delivery transaction found about a target mailbox. */
export type MailboxState = 'ok' | 'full' | 'gone';

export interface PlannedRecipient {
  id: number;
  address: string;
  plan: RecipientPlan;
}

export type FinalStatus = 'delivered' | 'expanded' | 'relay' | 'bounced' | 'failed';

/** What routing does with one message's recipients. */
export interface RoutingDecision {
  /** One row per mailbox, whatever number of recipients led there (duplicate elimination). */
  mailboxRows: { mailboxId: number; recipientId: number }[];
  /**
   * New recipient rows: relay targets of aliases, and failed targets of multi-target aliases.
   * `passOn`: the only target of its alias (RFC 3461 §6.2.7.2), which takes the alias's NOTIFY
   * unchanged and its success report; otherwise a target gets NOTIFY without SUCCESS (§6.2.7.3).
   */
  children: { originalId: number; address: string; domain: string; status: 'relay' | 'bounced' | 'failed'; reply: string | null; passOn?: true }[];
  /** New status of each original recipient. */
  updates: { id: number; status: FinalStatus; reply: string | null; reason: BounceReason | null }[];
}

/** Every mailbox the plans deliver to, once. */
export function targetMailboxIds(planned: readonly PlannedRecipient[]): number[] {
  return [...new Set(planned.flatMap((p) => (p.plan.kind === 'deliver' ? p.plan.mailboxes.map((m) => m.id) : [])))];
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * Turns plans into rows. Rules:
 * - a recipient whose only target is a mailbox: delivered, or bounced (552 full / 550 gone);
 * - remote targets become `relay` rows (original_id set) and the original is `expanded`;
 * - a multi-target alias keeps its delivered copies; each failed target gets its own
 *   bounced row so the DSN names it; if every target failed the original itself bounces;
 * - DSN (RFC 3461 §6.2.7): an alias to several addresses is `expanded` (its NOTIFY=SUCCESS
 *   report says "expanded"; its targets' NOTIFY loses SUCCESS); an alias to exactly one
 *   address is no expansion: a mailbox makes it `delivered`, a remote address's row takes
 *   its NOTIFY and ORCPT unchanged (`passOn`) and the alias issues no report of its own;
 * - with the null sender no DSN can go anywhere (RFC 5321 §4.5.5): `failed` instead of `bounced`.
 */
export function decide(recipients: readonly PlannedRecipient[], mailboxState: (id: number) => MailboxState, nullSender: boolean): RoutingDecision {
  const bounced = nullSender ? 'failed' : 'bounced';
  const out: RoutingDecision = { mailboxRows: [], children: [], updates: [] };
  const copied = new Set<number>();

  for (const r of recipients) {
    const plan = r.plan;
    if (plan.kind === 'relay') {
      out.updates.push({ id: r.id, status: 'relay', reply: null, reason: null });
      continue;
    }
    if (plan.kind === 'bounce') {
      out.updates.push({ id: r.id, status: bounced, reply: bounceReply(plan.reason, r.address), reason: plan.reason });
      continue;
    }
    if (plan.kind === 'report') {
      // Not bounced: a DSN for a non-report would be backscatter to whoever forged the sender.
      out.updates.push(plan.taken ? { id: r.id, status: 'delivered', reply: plan.reply, reason: null } : { id: r.id, status: 'failed', reply: plan.reply, reason: 'not-a-report' });
      continue;
    }
    const failed: { address: string; reason: BounceReason }[] = [];
    for (const mb of plan.mailboxes) {
      const state = mailboxState(mb.id);
      if (state === 'ok') {
        if (!copied.has(mb.id)) {
          copied.add(mb.id);
          out.mailboxRows.push({ mailboxId: mb.id, recipientId: r.id });
        }
      } else {
        failed.push({ address: mb.address, reason: state === 'full' ? 'quota' : 'unknown' });
      }
    }
    const targets = plan.mailboxes.length + plan.remote.length;
    if (failed.length === targets) {
      // Nothing reached: the original address is the one the sender knows.
      const first = failed[0]?.reason ?? 'unknown';
      const reason = failed.every((f) => f.reason === first) ? first : 'unknown';
      out.updates.push({ id: r.id, status: bounced, reply: bounceReply(reason, r.address), reason });
      continue;
    }
    for (const address of plan.remote) {
      out.children.push({ originalId: r.id, address, domain: domainOf(address), status: 'relay', reply: null, ...(targets === 1 ? { passOn: true as const } : {}) });
    }
    for (const f of failed) {
      out.children.push({ originalId: r.id, address: f.address, domain: domainOf(f.address), status: bounced, reply: bounceReply(f.reason, f.address) });
    }
    const status: FinalStatus = plan.remote.length > 0 || failed.length > 0 || targets > 1 ? 'expanded' : 'delivered';
    out.updates.push({ id: r.id, status, reply: plan.note ?? null, reason: null });
  }
  return out;
}

/** One message with its recipients planned, as the job hands it to the store's paths. */
export interface PlannedMessage {
  messageId: string;
  size: number;
  planned: readonly PlannedRecipient[];
  nullSender: boolean;
}

/** What the locking transaction found for the messages of one batch (RoutingStore.lockFacts). */
export interface LockedFacts {
  /** Recipients still `queued`, now locked; any other was taken by another job. */
  queued: ReadonlySet<number>;
  /** Target mailboxes that still exist (locked against deletion). quotaBytes 0 = unlimited; usedBytes is read for those with a quota. */
  mailboxes: ReadonlyMap<number, { quotaBytes: number; usedBytes: number }>;
  /** For mailboxes with a quota: the messages of the batch each already holds (a redelivered job). */
  held: ReadonlyMap<number, ReadonlySet<string>>;
}

/**
 * decide() for each message of one locking transaction, in order: each message's copies
 * count against the quotas before the next one is decided, so a batch cannot squeeze past
 * a quota together. null for a message none of whose recipients is still queued.
 */
export function decideInOrder(messages: readonly PlannedMessage[], facts: LockedFacts): (RoutingDecision | null)[] {
  const used = new Map<number, number>();
  return messages.map((m) => {
    const live = m.planned.filter((p) => facts.queued.has(p.id));
    if (live.length === 0) return null;
    const alreadyHas = (id: number) => facts.held.get(id)?.has(m.messageId) === true;
    const limited = (id: number) => {
      const box = facts.mailboxes.get(id);
      return box && box.quotaBytes > 0 ? box : undefined;
    };
    const decision = decide(
      live,
      (id) => {
        if (!facts.mailboxes.has(id)) return 'gone';
        const box = limited(id);
        if (!box) return 'ok';
        return overQuota({ quotaBytes: box.quotaBytes, usedBytes: used.get(id) ?? box.usedBytes, alreadyHas: alreadyHas(id) }, m.size) ? 'full' : 'ok';
      },
      m.nullSender,
    );
    for (const row of decision.mailboxRows) {
      const box = limited(row.mailboxId);
      if (box && !alreadyHas(row.mailboxId)) used.set(row.mailboxId, (used.get(row.mailboxId) ?? box.usedBytes) + m.size);
    }
    return decision;
  });
}
