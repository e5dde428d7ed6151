// The seam between the route-message job and PostgreSQL: the job decides (policy/), the
// store stores. The fast path is one write() outside any transaction; the careful path (a
// quota, a mailbox that may be gone) is transaction(tx => tx.lockFacts → decide → tx.write).
// adapters/pg-store.ts implements it.
import type { SavedTlsReport } from '@hopmail/db';
import type { ParsedReport } from '@hopmail/mail';
import type { LockedFacts, RoutingDecision } from './policy/route-policy.ts';

// The decision and the facts are policy's types; adapters take them from here.
export type { LockedFacts, RoutingDecision };

export interface QueuedMessage {
  size: number;
  /** '' is the null sender. */
  mailFrom: string;
  /** Its recipients still `queued`, in id order. */
  recipients: { id: number; address: string }[];
}

/** One message's rows to lock: its planned recipients and their target mailboxes. */
export interface LockRequest {
  messageId: string;
  recipientIds: readonly number[];
  mailboxIds: readonly number[];
}

/** One message's decision, as write() stores it. */
export interface MessageWrite {
  messageId: string;
  size: number;
  decision: RoutingDecision;
}

/** What one message's write committed (from the statement's RETURNING). */
export interface Written {
  /** Distinct destination domains, sorted, of the `relay` rows it made due: one deliver-remote job each. */
  relayDomains: string[];
  /** It set a recipient, or an alias target's own row, `bounced`: a DSN is owed (never for `failed`). */
  bounced: boolean;
  /** It delivered or expanded a recipient that asked for NOTIFY=SUCCESS (RFC 3461): a success DSN is owed. */
  success?: boolean;
}

export interface RoutingTransaction {
  /**
   * Locks the recipients (FOR UPDATE) and the target mailboxes (FOR KEY SHARE; those with a
   * quota FOR NO KEY UPDATE), all in id order, and returns what decideInOrder() needs. The
   * locks hold until the transaction ends.
   */
  lockFacts(requests: readonly LockRequest[]): Promise<LockedFacts>;
  /**
   * Every message's mailbox copies, new recipient rows and statuses in one statement. A
   * message's rows are written only if it still had recipients `queued`; null for a
   * message another job had taken. Throws RoutingError 'mailboxGone' (nothing written)
   * when a target mailbox was deleted meanwhile: only possible outside lockFacts' locks.
   * A message must not appear twice in one call.
   */
  write(messages: readonly MessageWrite[]): Promise<(Written | null)[]>;
}

export interface RoutingStore extends RoutingTransaction {
  /** Each message with its queued recipients, in the order given; null when it does not exist. */
  loadQueued(messageIds: readonly string[]): Promise<(QueuedMessage | null)[]>;
  /** Runs fn in one transaction (withTransaction): committed if it returns, rolled back if it throws. */
  transaction<T>(fn: (tx: RoutingTransaction) => Promise<T>): Promise<T>;
  /** Destination domains of the message's `relay` rows due now (a redelivered job's read). */
  dueRelayDomains(messageId: string): Promise<string[]>;
  /** quota_bytes of each mailbox that exists (0 = unlimited); a missing id is a deleted mailbox. */
  mailboxQuotas(mailboxIds: readonly number[]): Promise<Map<number, number>>;
}

export interface RelayKey {
  messageId: string;
  domain: string;
}

/** The reconciler's reads: unfinished work older than graceMs, one keyset page at a time. */
export interface ReconcileStore {
  /** Messages with recipients still `queued`, by message id. */
  staleQueuedPage(page: { graceMs: number; after: string | null; limit: number }): Promise<string[]>;
  /** (message, domain) pairs with overdue `relay` rows, in that order. */
  overdueRelayPage(page: { graceMs: number; after: RelayKey | null; limit: number }): Promise<RelayKey[]>;
}

/** Mail to the TLS-RPT report address: the message's bytes, and the parsed report stored. */
export interface TlsReportStore {
  /** The raw message; null when it does not exist. */
  raw(messageId: string): Promise<Buffer | null>;
  /** Once per (organization, report id, policy domain of ours): a second call stores nothing more. */
  save(report: ParsedReport): Promise<SavedTlsReport>;
}
