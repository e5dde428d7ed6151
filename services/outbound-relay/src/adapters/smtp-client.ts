// SMTP client sessions over nodemailer's SMTPConnection (EHLO, STARTTLS, PIPELINING, SIZE,
// 8BITMIME, AUTH; dot-stuffing and CRLF in its data stream; BDAT where CHUNKING is
// offered), plus a small pool of idle sessions keyed by destination so several messages to
// one MX share a connection.
import { isIP, type Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { checkServerIdentity, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Logger } from 'pino';
import { EVENTS } from '../events.ts';
import type { TlsFacts } from '../policy/tls-policy.ts';
import type { Lease, Limits } from './limits.ts';
import { connectFirst, type SourceAddresses } from './connect.ts';

export interface SmtpTarget {
  /** MX host name (or smarthost name): the unit of concurrency and rate limits. */
  mxHost: string;
  ip: string;
  port: number;
  auth?: { user: string; pass: string } | undefined;
  /** Smarthost with credentials: never AUTH in plaintext. */
  requireTls?: boolean;
  /**
   * STARTTLS: never ('none'), when offered ('may', the default), or mandatory ('require');
   * `ca` replaces the trusted CAs (an operator's verify policy). Verification itself is
   * checked by the caller on the session's tlsFacts(), before MAIL FROM.
   */
  tls?: { mode: 'none' | 'may' | 'require'; ca?: string; dane?: boolean } | undefined;
}

export interface SmtpClientOptions {
  name: string;
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
  verifyTls: boolean;
  /** Trusted CAs for verification (RELAY_TLS_CA_FILE with the system roots); undefined: Node's roots. */
  ca?: string[] | undefined;
  /** Happy eyeballs (adapters/connect.ts): delay between connection attempts, source addresses. */
  connectAttemptDelayMs: number;
  source: SourceAddresses;
  idleMs: number;
  maxMessages: number;
  limits: Limits;
  logger: Logger;
}

export type ConnectOutcome =
  | { kind: 'ok'; session: Session }
  | { kind: 'throttled' }
  /** Connect failure, 4xx/421 greeting, TLS or AUTH failure: try the next address/MX. */
  | { kind: 'failed'; reply: string | undefined; error: string; permanent: boolean; tls?: 'starttls-not-supported' | 'validation-failure' | undefined; ip?: string; used?: number };

export interface TxResult {
  /** Reply per recipient address (the DATA reply for accepted ones). */
  replies: Map<string, string>;
  /** The session broke mid-transaction (no usable reply). */
  lost: boolean;
  /** Our whole message had been handed to the socket before the loss: possible duplicate. */
  dataSent: boolean;
  /** Remote reply to the final '.', when we got one. */
  dataReply: string | undefined;
}

interface NmError extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejectedErrors?: NmError[];
}

type Conn = InstanceType<typeof SMTPConnection> & {
  _supportedExtensions?: string[];
  /** The EHLO reply's lines after the greeting line, without the codes. */
  _ehloLines?: string[];
  _maxAllowedSize?: number;
  _envelope?: { rejectedErrors?: NmError[] } | false;
  _sendCommand: (str: string, logStr?: string) => void;
  _actionDATA: (str: string, callback: (err: NmError | null, info?: unknown) => void) => void;
  _createSendStream: (callback: (err: NmError | null, str?: string) => void) => Writable & { outByteCount?: number };
  _socket: NodeJS.WritableStream;
};

/** What the client asked for (RFC 3461), to pass on; values decoded, encoded here as xtext. */
export interface DsnParameters {
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  /** By recipient address, as in the envelope's `to`. */
  recipients: ReadonlyMap<string, { notify: readonly string[] | null; orcpt: string | null }>;
}

const xtext = (s: string) => s.replace(/[^!-*,-<>-~]/g, (c) => `+${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);

export function withDsnParameters(command: string, dsn: DsnParameters): string {
  if (/^MAIL FROM:/i.test(command)) return command + (dsn.ret ? ` RET=${dsn.ret}` : '') + (dsn.envid ? ` ENVID=${xtext(dsn.envid)}` : '');
  const m = /^RCPT TO:<([^>]*)>/i.exec(command);
  const r = m ? dsn.recipients.get(m[1]!) : undefined;
  if (!r) return command;
  // ORCPT is addr-type ";" xtext: only the address part is encoded.
  const orcpt = r.orcpt ? ` ORCPT=${r.orcpt.slice(0, r.orcpt.indexOf(';') + 1)}${xtext(r.orcpt.slice(r.orcpt.indexOf(';') + 1))}` : '';
  return command + (r.notify ? ` NOTIFY=${r.notify.join(',')}` : '') + orcpt;
}

const CRLF = Buffer.from('\r\n');

export class Session {
  readonly target: SmtpTarget;
  readonly conn: Conn;
  readonly lease: Lease;
  messages = 0;
  alive = true;
  idleTimer: NodeJS.Timeout | undefined;
  private facts: TlsFacts | undefined;

  constructor(target: SmtpTarget, conn: Conn, lease: Lease) {
    this.target = target;
    this.conn = conn;
    this.lease = lease;
    conn.on('end', () => (this.alive = false));
    conn.on('error', () => (this.alive = false));
  }

  get tls(): boolean {
    return this.conn.secure;
  }

  /** EHLO keywords (upper case): nodemailer's list, and those it does not track (CHUNKING, BINARYMIME) from the EHLO lines. */
  get extensions(): string[] {
    const own = (this.conn._ehloLines ?? []).map((l) => l.trim().split(/\s+/)[0]!.toUpperCase()).filter(Boolean);
    return [...new Set([...(this.conn._supportedExtensions ?? []), ...own])];
  }

  /**
   * What the TLS layer showed (MTA-STS, verify and DANE checks). Read once per session: a
   * session is handed out after STARTTLS, so nothing changes while it is reused, and the
   * peer's chain (getPeerCertificate(true)) cost a quarter of a millisecond per message.
   */
  tlsFacts(): TlsFacts {
    return (this.facts ??= this.readTlsFacts());
  }

  private readTlsFacts(): TlsFacts {
    const sock = (this.conn as unknown as { _socket?: TLSSocket })._socket;
    if (!this.conn.secure || !sock || typeof sock.getPeerCertificate !== 'function') return { secure: false, authorized: false, authorizationError: null, fingerprint: null };
    const peer = sock.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
    const fp = peer?.fingerprint256;
    const err = sock.authorizationError as unknown;
    // The chain as sent (node links each certificate to its issuer; a self-signed one to itself).
    const chain: Buffer[] = [];
    for (let c = peer; c && c.raw && chain.length < 10; c = c.issuerCertificate === c ? undefined : c.issuerCertificate) chain.push(c.raw);
    return {
      chain,
      hostOk: !!peer?.raw && !isIP(this.target.mxHost) && checkServerIdentity(this.target.mxHost, peer) === undefined,
      secure: true,
      authorized: sock.authorized,
      authorizationError: err == null ? null : typeof err === 'string' ? err : ((err as { code?: string }).code ?? String(err)),
      fingerprint: fp ? fp.replace(/:/g, '').toLowerCase() : null,
    };
  }

  get maxSize(): number {
    return this.conn._maxAllowedSize ?? 0;
  }

  send(envelope: { from: string; to: string[]; size: number; use8BitMime: boolean; smtputf8?: boolean; requireTls?: boolean; dsn?: DsnParameters; binaryMime?: boolean }, message: Buffer): Promise<TxResult> {
    // nodemailer adds SMTPUTF8 to MAIL FROM only for non-ASCII addresses; a message with UTF-8
    // headers needs it too (RFC 6531 §3.4), so add the keyword to this transaction's MAIL FROM.
    const plain = this.conn._sendCommand;
    if (envelope.smtputf8 && this.extensions.includes('SMTPUTF8')) {
      this.conn._sendCommand = (str: string, logStr?: string) => {
        plain.call(this.conn, /^MAIL FROM:/i.test(str) && !/ SMTPUTF8\b/i.test(str) ? `${str} SMTPUTF8` : str, logStr);
      };
    }
    // RFC 3461 §5.2: the DSN parameters go on unchanged to a hop that offers DSN, per
    // recipient (nodemailer's `dsn` option gives every recipient the same NOTIFY and ORCPT).
    if (envelope.dsn && this.extensions.includes('DSN')) {
      const send = this.conn._sendCommand;
      const dsn = envelope.dsn;
      this.conn._sendCommand = (str: string, logStr?: string) => send.call(this.conn, withDsnParameters(str, dsn), logStr);
    }
    let bdatSent = false;
    const chunking = this.extensions.includes('CHUNKING');
    // BODY=BINARYMIME (RFC 3030 §3): the caller checked the hop offers CHUNKING and BINARYMIME.
    if (envelope.binaryMime) {
      const send = this.conn._sendCommand;
      this.conn._sendCommand = (str: string, logStr?: string) =>
        send.call(this.conn, /^MAIL FROM:/i.test(str) ? `${str.replace(/ BODY=\S+/i, '')} BODY=BINARYMIME` : str, logStr);
    }
    if (chunking || envelope.binaryMime) this.sendWithBdat(message, () => (bdatSent = true), envelope.binaryMime === true);
    return new Promise<TxResult>((resolve) => {
      let dataSent = false;
      const source = Readable.from([message]);
      source.on('end', () => (dataSent = true));
      this.messages++;
      // REQUIRETLS on MAIL FROM (RFC 8689 §4.2.1): nodemailer adds it, after checking TLS and the extension.
      // `dsn` is ours (above), not nodemailer's envelope-wide one.
      const { requireTls, dsn: _dsn, ...rest } = envelope;
      this.conn.send({ ...rest, ...(requireTls ? { requireTLSExtensionEnabled: true } : {}) } as typeof rest, source, (err: NmError | null, info?: { accepted?: string[]; rejectedErrors?: NmError[]; response?: string }) => {
        const replies = new Map<string, string>();
        if (!err && info) {
          for (const a of info.accepted ?? []) replies.set(a, info.response ?? '250 OK');
          for (const e of info.rejectedErrors ?? []) if (e.recipient) replies.set(e.recipient, e.response ?? '451 4.0.0 rejected');
          return resolve({ replies, lost: false, dataSent: true, dataReply: info.response });
        }
        const e = err!;
        const rejected = e.rejectedErrors ?? (this.conn._envelope ? this.conn._envelope.rejectedErrors : undefined) ?? [];
        for (const r of rejected) if (r.recipient) replies.set(r.recipient, r.response ?? '451 4.0.0 rejected');
        if (e.response && e.responseCode) {
          // A reply to MAIL FROM, DATA or the final '.': it applies to every recipient it did
          // not already answer individually.
          for (const a of envelope.to) if (!replies.has(a)) replies.set(a, e.response);
          const afterData = e.command === 'DATA' && (dataSent || bdatSent);
          return resolve({ replies, lost: false, dataSent: afterData, dataReply: afterData ? e.response : undefined });
        }
        // No reply at all: the connection broke or timed out.
        this.alive = false;
        const why = `451 4.4.2 Connection lost with ${this.target.mxHost}[${this.target.ip}] (${e.code ?? 'ERROR'}: ${e.message})`;
        for (const a of envelope.to) if (!replies.has(a)) replies.set(a, why);
        resolve({ replies, lost: true, dataSent: dataSent || bdatSent, dataReply: undefined });
      });
    }).finally(() => {
      this.conn._sendCommand = plain;
      if (chunking) {
        // Back to nodemailer's own (prototype) methods.
        delete (this.conn as Partial<Conn>)._actionDATA;
        delete (this.conn as Partial<Conn>)._createSendStream;
      }
    });
  }

  /**
   * RFC 3030: the next hop offers CHUNKING, so this transaction sends the message as one
   * `BDAT <n> LAST` chunk where nodemailer would send DATA — the exact bytes, no dot-stuffing,
   * pipelined behind RCPT where PIPELINING is offered (the server reads the chunk whatever it
   * answers). The reply to BDAT LAST takes the place of both the 354 and the reply to the
   * final dot: nodemailer's DATA handler gets it, and its message stream becomes a sink.
   */
  private sendWithBdat(raw: Buffer, written: () => void, binary = false): void {
    const conn = this.conn;
    // The same octets DATA would deliver: nodemailer's data stream ends the last line with CRLF.
    // A binary body is octets, not lines: exactly as stored.
    const message = binary || (raw.length && raw.subarray(-2).equals(CRLF)) ? raw : Buffer.concat([raw, CRLF]);
    const send = conn._sendCommand;
    const actionData = conn._actionDATA;
    let reply = '';
    conn._sendCommand = (str: string, logStr?: string) => {
      if (str !== 'DATA') return send.call(conn, str, logStr);
      send.call(conn, `BDAT ${message.length} LAST`);
      conn._socket.write(message);
      written();
    };
    conn._actionDATA = (str, callback) => {
      reply = str;
      actionData.call(conn, str, callback);
    };
    conn._createSendStream = (callback) => {
      const sink = Object.assign(new Writable({ write: (_chunk, _enc, next) => next() }), { outByteCount: message.length });
      sink.once('finish', () => callback(null, reply));
      return sink;
    };
  }

  reset(): Promise<boolean> {
    return new Promise((resolve) => this.conn.reset((err) => resolve(!err)));
  }

  quit(): void {
    this.alive = false;
    try {
      this.conn.quit();
    } catch {
      this.conn.close();
    }
  }
}

export class SmtpPool {
  private readonly idle = new Map<string, Session[]>();
  private readonly opts: SmtpClientOptions;
  private closed = false;

  constructor(opts: SmtpClientOptions) {
    this.opts = opts;
  }

  private key(t: SmtpTarget): string {
    return `${t.mxHost}|${t.ip}|${t.port}|${t.auth?.user ?? ''}|${t.tls?.mode ?? 'may'}|${t.tls?.ca ?? ''}|${t.tls?.dane ? 'dane' : ''}`;
  }

  /**
   * An idle session to `target` or one of the `alternatives` (other addresses of the same
   * host, in order), after RSET; else a new connection within the host's limits, raced over
   * target.ip and the alternatives (happy eyeballs). A failure's `used` says how many of
   * [target.ip, ...alternatives] it used up; the session's target.ip is the address it won.
   */
  async session(target: SmtpTarget, alternatives: readonly string[] = []): Promise<ConnectOutcome> {
    const ips = [target.ip, ...alternatives];
    for (const ip of ips) {
      const list = this.idle.get(this.key({ ...target, ip }));
      while (list && list.length) {
        const s = list.pop()!;
        clearTimeout(s.idleTimer);
        if (s.alive && (await s.reset())) return { kind: 'ok', session: s };
        await this.discard(s);
      }
    }
    const lease = await this.opts.limits.acquire(target.mxHost);
    if (!lease) return { kind: 'throttled' };
    const race = await connectFirst(ips, { port: target.port, delayMs: this.opts.connectAttemptDelayMs, timeoutMs: this.opts.connectTimeoutMs, source: this.opts.source });
    const out: ConnectOutcome = race.ok
      ? await this.connect({ ...target, ip: race.ip }, lease, race.socket).then((o) => (o.kind === 'failed' ? { ...o, ip: race.ip, used: ips.indexOf(race.ip) + 1 } : o))
      : { kind: 'failed', reply: undefined, error: `ECONNECTION: ${race.failures.join(', ')}`, permanent: false, ip: ips[race.started - 1] ?? target.ip, used: race.started };
    if (out.kind !== 'ok') await this.opts.limits.release(lease).catch(() => {});
    return out;
  }

  private connect(target: SmtpTarget, lease: Lease, socket: Socket): Promise<ConnectOutcome> {
    const { name, verifyTls, connectTimeoutMs, greetingTimeoutMs, socketTimeoutMs } = this.opts;
    const mode = target.requireTls ? 'require' : (target.tls?.mode ?? 'may');
    const ca = target.tls?.ca ?? this.opts.ca;
    const conn = new SMTPConnection({
      host: target.ip,
      connection: socket,
      port: target.port,
      name,
      secure: false,
      // Opportunistic STARTTLS (RFC 7435): upgrade when offered, carry on in plaintext when the
      // upgrade fails; certificates unverified unless RELAY_TLS_VERIFY (MX certs rarely match).
      // A policy (operator, MTA-STS) makes it mandatory or turns it off.
      opportunisticTLS: mode === 'may',
      requireTLS: mode === 'require',
      ignoreTLS: mode === 'none',
      // SNI carries host names only (RFC 6066 §3), never an address literal. The host name
      // check runs against servername too: authorized means "valid for this MX name".
      // DANE (RFC 7672 §3.1.1): a DANE-EE certificate is often self-signed and its names and
      // expiry do not count; the TLSA match is checked on tlsFacts() instead.
      tls: { rejectUnauthorized: verifyTls && !target.tls?.dane, ...(ca ? { ca } : {}), ...(isIP(target.mxHost) ? {} : { servername: target.mxHost }) },
      connectionTimeout: connectTimeoutMs,
      greetingTimeout: greetingTimeoutMs,
      socketTimeout: socketTimeoutMs,
      allowInternalNetworkInterfaces: true,
    } as ConstructorParameters<typeof SMTPConnection>[0]) as Conn;
    return new Promise((resolve) => {
      let done = false;
      const fail = (err: NmError) => {
        if (done) return;
        done = true;
        conn.close();
        const reply = err.response;
        // ETLS: STARTTLS refused or not offered (with requireTLS), or the handshake failed.
        const tls = err.code === 'ETLS' ? (/upgrading connection with STARTTLS|STARTTLS/i.test(err.message) && !/initiating TLS/.test(err.message) ? 'starttls-not-supported' : 'validation-failure') : undefined;
        resolve({ kind: 'failed', reply, error: `${err.code ?? 'ERROR'}: ${err.message}`, permanent: !!err.responseCode && err.responseCode >= 500 && err.code === 'EAUTH', tls });
      };
      conn.once('error', fail);
      conn.connect((err?: NmError) => {
        if (err) return fail(err);
        const ready = () => {
          if (done) return;
          done = true;
          conn.removeListener('error', fail);
          resolve({ kind: 'ok', session: new Session(target, conn, lease) });
        };
        if (!target.auth) return ready();
        conn.login({ user: target.auth.user, pass: target.auth.pass }, (e) => (e ? fail(e as NmError) : ready()));
      });
    });
  }

  /** Returns a session after a transaction: kept for reuse when healthy, else closed. */
  async release(s: Session, reusable: boolean): Promise<void> {
    if (this.closed || !reusable || !s.alive || s.messages >= this.opts.maxMessages || this.opts.idleMs <= 0) return this.discard(s);
    const k = this.key(s.target);
    const list = this.idle.get(k) ?? [];
    list.push(s);
    this.idle.set(k, list);
    s.idleTimer = setTimeout(() => {
      const l = this.idle.get(k);
      if (l) this.idle.set(k, l.filter((x) => x !== s));
      void this.discard(s);
    }, this.opts.idleMs);
    s.idleTimer.unref();
  }

  private async discard(s: Session): Promise<void> {
    clearTimeout(s.idleTimer);
    s.quit();
    await this.opts.limits.release(s.lease).catch((err) => this.opts.logger.warn({ event: EVENTS.leaseReleaseFailed, err }, 'lease release failed'));
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const all = [...this.idle.values()].flat();
    this.idle.clear();
    await Promise.all(all.map((s) => this.discard(s)));
  }
}
