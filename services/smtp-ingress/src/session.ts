// Per-connection state lives as long as the TCP session; per-transaction state as long as
// one MAIL…DATA (smtp-server gives every transaction a fresh `session.envelope`, so a
// WeakMap keyed by it forgets a transaction on RSET, EHLO or after DATA by itself).

import type { Logger } from 'pino';

export interface ConnectionState {
  sessionId: string;
  remoteIp: string;
  listener: string;
  log: Logger;
  /** Authenticated identity: the mailbox address (AUTH after TLS); null before AUTH. */
  user: string | null;
  /** The authenticated mailbox (id for alias checks). */
  mailbox: { id: number; address: string } | null;
  /** This listener refuses MAIL before AUTH (submission, RFC 6409 §4.3). */
  requireAuth: boolean;
  openedAt: number;
  messages: number;
}

export interface TransactionState {
  mailFrom: string;
  startedAt: number;
}

export class SessionRegistry {
  private readonly connections = new Map<string, ConnectionState>();
  private readonly perIp = new Map<string, number>();
  private readonly transactions = new WeakMap<object, TransactionState>();

  openFrom(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }

  open(state: ConnectionState): void {
    this.connections.set(state.sessionId, state);
    this.perIp.set(state.remoteIp, this.openFrom(state.remoteIp) + 1);
  }

  get(sessionId: string): ConnectionState | undefined {
    return this.connections.get(sessionId);
  }

  /** Returns the state of a session that had been opened, once. */
  close(sessionId: string): ConnectionState | undefined {
    const state = this.connections.get(sessionId);
    if (!state) return undefined;
    this.connections.delete(sessionId);
    const n = this.openFrom(state.remoteIp) - 1;
    if (n > 0) this.perIp.set(state.remoteIp, n);
    else this.perIp.delete(state.remoteIp);
    return state;
  }

  get size(): number {
    return this.connections.size;
  }

  beginTransaction(envelope: object, tx: TransactionState): void {
    this.transactions.set(envelope, tx);
  }

  transaction(envelope: object): TransactionState | undefined {
    return this.transactions.get(envelope);
  }
}
