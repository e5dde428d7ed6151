// What the engine needs from the outside world. adapters/ implements these against
// PostgreSQL, Argon2 and Redis; the transcript tests implement them in memory.

export interface DropMessage {
  /** RFC 1939 §7 unique-id: 1–70 printable ASCII characters (0x21–0x7E), stable. */
  uidl: string;
  /** Octets of the stored message, exactly what RETR sends before stuffing. */
  size: number;
}

/** A locked snapshot of one mailbox, open for the life of a TRANSACTION state. */
export interface Maildrop {
  /** Fixed at open: message n is messages[n - 1] for the whole session (RFC 1939 §5). */
  readonly messages: readonly DropMessage[];
  /** The stored bytes of messages[index], in chunks. Throws if storage fails. */
  read(index: number): AsyncIterable<Buffer>;
  /**
   * The whole of messages[index] when it is already in memory (read ahead), without waiting;
   * undefined otherwise (then read() it). Either way the store learns where the client is.
   */
  readNow(index: number): Buffer | undefined;
  /** What readNow() would give, without telling the store anything (building a reply ahead). */
  peek(index: number): Buffer | undefined;
  /** RFC 1939 §6 UPDATE: remove these messages, all or nothing. */
  commit(indexes: readonly number[]): Promise<void>;
  /** Drops the lock. Never deletes anything. Safe to call twice. */
  release(): Promise<void>;
}

import type { AuthOutcome } from '@hopmail/login';
export type { AuthOutcome };

export type OpenOutcome = { ok: true; drop: Maildrop } | { ok: false; reason: 'in-use' | 'unavailable' };

export interface Backend {
  authenticate(user: string, password: Buffer, ctx: { remoteIp: string }): Promise<AuthOutcome>;
  openMaildrop(mailboxId: string): Promise<OpenOutcome>;
}
