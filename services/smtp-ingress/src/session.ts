// What the ingress knows about a session. `SessionFacts` is what the listener adapter reports
// from smtp-server's session at each step (plain data: nothing here imports smtp-server).
// `ConnectionState` is ours and lives as long as the TCP session; per-transaction state
// lives as long as one MAIL…DATA, keyed by the transaction's identity (the listener uses
// smtp-server's envelope object, fresh for every transaction, so a WeakMap keyed by it
// forgets a transaction on RSET, EHLO or after DATA by itself).

import type { Logger } from 'pino';
import type { DnsblResult } from './policy/dnsbl-policy.ts';
import type { AuthResultValue } from './policy/mail-auth-policy.ts';

/** The current mail transaction. Its recipients are reported at DATA only (ingress.data). */
export interface TransactionFacts {
  /** Identity of this transaction; a new one after RSET, HELO/EHLO, STARTTLS or DATA. */
  key: object;
  /** Reverse-path of the accepted MAIL FROM ('' for <> or before MAIL). */
  mailFrom: string;
  /** The client gave SMTPUTF8 on MAIL FROM (RFC 6531). */
  smtputf8: boolean;
  /** The client gave REQUIRETLS on MAIL FROM (RFC 8689; offered on TLS sessions only). */
  requireTls?: boolean;
  /** RET and ENVID of MAIL FROM (RFC 3461 §4.3, §4.4; ENVID decoded); null where not given. */
  dsn?: { ret: 'FULL' | 'HDRS' | null; envid: string | null };
  /** BODY=BINARYMIME on MAIL FROM (RFC 3030): sent with BDAT, binary octets allowed. */
  binaryMime?: boolean;
}

/** One session as the listener sees it when it calls the ingress. */
export interface SessionFacts {
  sessionId: string;
  remoteIp: string;
  /** The address the client connected to (our address literal, RFC 5321 §4.1.3). */
  localIp?: string | null;
  /** Reverse DNS name of the client; null when unknown. */
  clientHostname: string | null;
  /** HELO/EHLO argument as the client gave it; null before one. */
  helo: string | null;
  /** The session was opened with EHLO rather than HELO. */
  ehlo: boolean;
  /** TLS is up (implicit, or after STARTTLS). */
  tls: boolean;
  /** Negotiated cipher and protocol version, when TLS is up. */
  tlsCipher: string | null;
  tlsVersion: string | null;
  /** SNI name the client asked for. */
  servername: string | null;
  transaction: TransactionFacts;
}

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
  /** DNSBL/DNSWL look-ups started at connect, awaited at the first RCPT (never rejects). */
  dnsbl?: Promise<DnsblResult>;
  /** The client's greylisting network and whether GREYLIST_ALLOW_NETWORKS covers it: per address, so worked out once per session (at its first RCPT), not per RCPT. */
  greylistClient?: { network: string; allowed: boolean };
}

export interface TransactionState {
  mailFrom: string;
  startedAt: number;
  /** SPF of MAIL FROM asked at the first RCPT that needed it (greylisting), once per transaction. */
  spf?: Promise<AuthResultValue>;
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

  beginTransaction(transaction: TransactionFacts, tx: TransactionState): void {
    this.transactions.set(transaction.key, tx);
  }

  transaction(transaction: TransactionFacts): TransactionState | undefined {
    return this.transactions.get(transaction.key);
  }
}
