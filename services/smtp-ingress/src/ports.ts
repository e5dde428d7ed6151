// What ingress.ts needs from the outside world, as interfaces (CONVENTIONS §3: storage sits
// behind an interface). adapters/ implements them on PostgreSQL, Redis and BullMQ; tests of
// the pure steps implement them in memory.

import type { NewMessage } from '@hopmail/db';
import type { MailboxRef } from '@hopmail/mail';
import type { AuthResults, AuthResultValue, InboundPolicy } from './policy/mail-auth-policy.ts';

/** "250 only after commit" (DESIGN.md). */
export interface MessageStore {
  /**
   * Commits the message and its recipients and resolves: the 250 may go. The hand-off to
   * routing (route-message) follows in the background; if it fails the message is safe and
   * routing's reconciler picks it up. Throws IngressError('storeFailed') when nothing was
   * committed.
   */
  commit(message: NewMessage): Promise<void>;
}

/** Who may log in, and which addresses are theirs. */
export interface Accounts {
  /** The mailbox when the password is right; null otherwise (unknown user included, same cost). */
  authenticate(username: string, password: string): Promise<MailboxRef | null>;
  /** The address (own, subaddress, alias reaching the mailbox; not a catch-all) is the user's. */
  owns(user: MailboxRef, address: string): Promise<boolean>;
}

/** Failed-AUTH counters shared by every replica. Never throws: without its store the counts read 0. */
export interface AuthLimiter {
  failures(ip: string, username: string): Promise<{ ip: number; account: number }>;
  recordFailure(ip: string, username: string): Promise<void>;
  /** A successful login forgets the account's failures (not the address's). */
  recordSuccess(username: string): Promise<void>;
}

/** What the client told us, and the bytes it sent, for the inbound checks (issue 12). */
export interface AuthCheckInput {
  /** The message exactly as received (no Received: of ours, nothing re-folded). */
  raw: Buffer;
  /** MAIL FROM ('' for <>: SPF checks the HELO identity). */
  mailFrom: string;
  helo: string | null;
  remoteIp: string;
}

/**
 * SPF, DKIM, DMARC and ARC of a message from the outside (port 25). Never throws: a
 * failure to learn a result (DNS down, the time limit) is that check's `temperror`.
 */
export interface Authenticator {
  readonly authservId: string;
  check(input: AuthCheckInput): Promise<AuthResults>;
}

/** SPF of the MAIL FROM identity alone, before DATA (greylisting's exemption). Never throws: temperror. */
export interface SpfCheck {
  check(input: Pick<AuthCheckInput, 'mailFrom' | 'helo' | 'remoteIp'>): Promise<AuthResultValue>;
}

/** The inbound policy of the recipients' domains (per domain, cluster default otherwise). */
export interface InboundPolicies {
  /** Strictest of the recipient domains' settings; throws when the directory cannot answer. */
  forMessage(recipientDomains: readonly string[], authorDomain: string | null): Promise<InboundPolicy>;
}

/** What smtp-ingress tells the content filter besides the message (rspamd's /checkv2 headers). */
export interface ScanEnvelope {
  queueId: string;
  ip: string;
  helo: string | null;
  /** Reverse DNS name of the client, when known. */
  hostname: string | null;
  mailFrom: string;
  recipients: readonly string[];
  /** The authenticated user (submission: the filter applies its outbound settings), or null. */
  user: string | null;
  /** What smtp-ingress's own SPF/DKIM/DMARC/ARC checks found (port 25), for the filter's rules. */
  auth?: AuthResults | null;
}

/** rspamd's actions (https://rspamd.com/doc/faq.html#what-are-rspamd-actions). */
export type SpamAction = 'reject' | 'soft reject' | 'greylist' | 'add header' | 'rewrite subject' | 'no action';

export interface ScanResult {
  action: SpamAction;
  score: number;
  requiredScore: number;
  /** Symbol → score. */
  symbols: Record<string, number>;
  /** rspamd's SMTP message for the client (reject, soft reject), when it gave one. */
  smtpMessage: string | null;
  /** The subject to use on `rewrite subject`. */
  subject: string | null;
  /** Headers rspamd's milter_headers asks for. */
  addHeaders: [name: string, value: string][];
}

/**
 * The content filter (rspamd). check() rejects when the filter is down or answered nonsense
 * (the ingress then fails open or closed as configured), never with a verdict of its own.
 */
export interface ContentFilter {
  check(raw: Buffer, envelope: ScanEnvelope, signal: AbortSignal): Promise<ScanResult>;
}
