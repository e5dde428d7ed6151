// Every place Hopmail leans on smtp-server's private internals, in one file, so that an
// upgrade of the library fails here and in smtp-server-internals.test.ts (one test per
// override) rather than somewhere in a transcript. Nothing else in the service touches an
// underscore field or smtp-server/lib/. What we rely on:
//
// - SMTPConnection (smtp-server/lib/smtp-connection.js) and its send(), _onCommand(),
//   _isSupported(), _createParser(), _whenWritable() and the _socket, _ready, _upgrading,
//   _nextHandler, _closing fields: HopmailConnection below;
// - SMTPServer#connect's steps and its _onError/_onClientConnect: useHopmailConnections();
// - SMTPServer#secureContext's '*' entry, the context of clients without SNI:
//   followDefaultContext();
// - SMTPServer#_handleProxy, the step between accept and connect(): fastSessionStart();
// - SMTPServer#connections and the connections' _handlerPending, _dataStream, _closing,
//   and their parser's _chunkMode (BDAT, our patch): tellIdleSessions().
//
// HopmailConnection is smtp-server's SMTPConnection with these corrections, each a few
// lines on top of the library rather than a second SMTP parser:
//
// 1. Every reply carries an enhanced status code (RFC 2034): send() routes through
//    enhanceReply(), see protocol/replies.ts for the gaps it closes.
// 2. Command lines are limited to SMTP_MAX_LINE_LENGTH octets including CRLF (RFC 5321
//    §4.5.3.1.4; MAIL and RCPT get the room DSN's parameters need, RFC 3461 §4) and answered "500 5.5.2 Line too long" with the session going on.
//    smtp-server only knows a buffer cap (maxCommandLength), past which its parser fails
//    and it sends 421 without an enhanced code; past that cap we still say 500 5.5.2,
//    then 421 4.7.0, since the parser cannot resynchronise.
// 3. Syntax errors (500, 501, 502, 504) are counted; at SMTP_MAX_BAD_COMMANDS the
//    session ends with 421 4.7.0 (Postfix's smtpd_hard_error_limit). smtp-server's own
//    counter covers only unrecognised commands and is fixed at 10.
// 5. The 220 greeting goes out as soon as the client is known (SMTP_GREETING_DELAY_MS, 0
//    by default), not after smtp-server's fixed 100 ms early-talker pause: init() below.
//    A client that talks before the greeting still gets smtp-server's 421.
// 6. A session deadline (SMTP_SESSION_MAX_MS): the idle timeout restarts on every byte,
//    so one byte every few minutes (slowloris) would hold a session for ever. Past the
//    deadline the session gets 421 4.4.2 and is closed; a DATA in progress is not stored.
// 7. A TLS handshake deadline (SMTP_TLS_HANDSHAKE_TIMEOUT_MS) on STARTTLS (upgrade()) and
//    on implicit TLS (boundTlsHandshakes()); smtp-server waits the whole idle timeout.
// 4. AUTH only inside TLS (RFC 4954 §4, RFC 8314): not advertised in clear, and tried in
//    clear it is `538 5.7.11 Encryption required` (smtp-server would say 538 5.7.0, and
//    lists AUTH before STARTTLS). Failed AUTH replies (535, 454) are counted; at
//    AUTH_MAX_FAILURES_PER_CONNECTION the session ends with 421 4.7.0.
// 8. DSN parameters (RFC 3461 §4) are checked on the command line as sent: smtp-server
//    decodes their xtext first and lets bad xtext and over-long values through. A bad one
//    is `501 5.5.4` (protocol/dsn-params.ts) and the command goes no further.
// 9. Early talkers (postscreen's pregreet and pipelining tests) are reported: a command
//    before the greeting (smtp-server's 421 "You talk too soon") and, where the listener
//    asks for it (the MX: SMTP_REFUSE_EARLY_PIPELINING), anything sent after EHLO/HELO
//    before our reply to it went out, while PIPELINING was not advertised yet in this (TLS)
//    session (RFC 2920 §3.1: EHLO ends a group; HELO offers no extensions at all). That is
//    a bot writing a script blind: 421 4.7.0 "You talk too soon", as before the greeting.
//    QUIT is let through (a probe's blind EHLO-QUIT sends no mail).
//    The reply counts as gone once the corked replies of its turn are flushed (send()); a
//    command dispatched before that, or a partial line left in the parser's _remainder
//    then, is the tell. Pipelining after the reply advertised PIPELINING is RFC 2920's.

import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { dsnParameterError } from '../protocol/dsn-params.ts';
import { enhanceReply, isBadCommandReply } from '../protocol/replies.ts';

export type ConnectionEvent = 'line-too-long' | 'too-many-bad-commands' | 'too-many-connections' | 'auth-in-clear' | 'auth-too-many-failures' | 'session-deadline' | 'tls-handshake-timeout' | 'early-talker-pregreet' | 'early-talker-pipelining';

export interface ConnectionLimits {
  /** Octets including CRLF. */
  maxLineLength: number;
  maxBadCommands: number;
  hostname: string;
  /** This listener takes AUTH once TLS is up: in clear AUTH is hidden and answered 538 5.7.11. */
  authAfterTls: boolean;
  maxAuthFailures: number;
  /** Pause before the 220 greeting (early-talker detection); 0 greets at once. */
  greetingDelayMs: number;
  /** Longest life of one session, whatever it does. */
  sessionMaxMs: number;
  /** Longest STARTTLS handshake. */
  tlsHandshakeTimeoutMs: number;
  /** Commands sent after EHLO/HELO before its reply (PIPELINING not advertised yet) get 421 4.7.0 (postscreen's pipelining test). */
  refuseEarlyPipelining?: boolean;
  /** Reports protocol-level events for logs and metrics. */
  onEvent(conn: HopmailConnection, event: ConnectionEvent): void;
}

/** EHLO or HELO, with or without an argument (the reply to a bad one counts as well). */
const isHello = (command: Buffer) => /^(EHLO|HELO)(\s|$)/i.test(command.toString('latin1', 0, 5));

const isQuit = (command: Buffer) => /^QUIT\s*$/i.test(command.toString('latin1', 0, 6));

const MAIL_DSN_OCTETS = 100 + ' RET=HDRS ENVID='.length;
const RCPT_DSN_OCTETS = 500 + ' NOTIFY=SUCCESS,FAILURE,DELAY ORCPT='.length;

export class HopmailConnection extends SMTPConnection {
  // Assigned after super(): smtp-server's constructor calls _createParser() first, which
  // must therefore not read these.
  limits: ConnectionLimits;
  badCommands = 0;
  authFailures = 0;
  private corked = false;
  private deadline: NodeJS.Timeout | undefined;
  /** Our EHLO reply listed PIPELINING in this (TLS) session: RFC 2920 pipelining is allowed. */
  private pipeliningAdvertised = false;
  /** The reply to an EHLO/HELO sent before PIPELINING was advertised is not yet on its way. */
  private helloReplyPending = false;

  constructor(server: SMTPServer, socket: Socket, options: ConstructorParameters<typeof SMTPConnection>[2], limits: ConnectionLimits) {
    super(server, socket, options);
    this.limits = limits;
    // Replies to a pipelined batch are produced in different turns (RCPT waits for a
    // lookup); with Nagle on, each later reply waits for the client's delayed ACK (~40 ms).
    socket.setNoDelay(true);
  }

  /** smtp-server's init() with our greeting delay, and the session deadline armed. */
  override init(): void {
    this.deadline = setTimeout(() => this.endSession(), this.limits.sessionMaxMs).unref();
    this._socket.once('close', () => clearTimeout(this.deadline));
    this._setListeners(() => {
      if (this._server.options.maxClients && this._server.connections.size > this._server.options.maxClients) {
        return this.send(421, this.name + ' Too many connected clients, try again in a moment', false);
      }
      if (this.limits.greetingDelayMs === 0) return this.connectionReady();
      setTimeout(() => this.connectionReady(), this.limits.greetingDelayMs).unref();
    });
  }

  private endSession(): void {
    if (this._closing || this._closed) return;
    this.limits.onEvent(this, 'session-deadline');
    this.send(421, `4.4.2 ${this.limits.hostname} Error: session time limit exceeded, closing connection`);
    this.close();
  }

  /**
   * STARTTLS with a handshake deadline: a client that never finishes it is dropped. The
   * TLS socket (which smtp-server hands to _armTimeout) is what gets destroyed: tearing the
   * plain socket away under a handshake in progress can crash Node.
   */
  override upgrade(callback: () => void, secureCallback?: () => void): void {
    // RFC 3207 §4.2: the TLS session starts over; PIPELINING is advertised again (or not).
    this.pipeliningAdvertised = false;
    this.helloReplyPending = false;
    let tlsSocket: Socket | undefined;
    const arm = this._armTimeout;
    this._armTimeout = (socket?: Socket) => {
      tlsSocket = socket;
      arm.call(this, socket);
    };
    const timer = setTimeout(() => {
      if (!this._upgrading || !tlsSocket || tlsSocket.destroyed) return;
      this.limits.onEvent(this, 'tls-handshake-timeout');
      tlsSocket.destroy();
    }, this.limits.tlsHandshakeTimeoutMs).unref();
    try {
      super.upgrade(callback, () => {
        clearTimeout(timer);
        secureCallback?.();
      });
    } finally {
      this._armTimeout = arm;
    }
    (tlsSocket as Socket | undefined)?.once('close', () => clearTimeout(timer));
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    // Replies produced in one event-loop turn (a pipelined MAIL/RCPT/DATA batch, RFC 2920)
    // leave in one write instead of one syscall each. end() uncorks, so a 421 still flushes.
    const socket = this._socket;
    if (!this.corked && !socket.destroyed) {
      this.corked = true;
      socket.cork();
      setImmediate(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    // Multi-line replies come from EHLO only: no enhanced codes there (RFC 2034 §3).
    if (Array.isArray(data)) {
      if (code === 250 && data.includes('PIPELINING')) this.pipeliningAdvertised = true;
      return super.send(code, data, false);
    }
    const reply = enhanceReply(code, data ?? '', context);
    // smtp-server's SMTP_MAX_CONNECTIONS refusal happens before onConnect: report it here.
    if (code === 421 && reply.text.startsWith('4.7.0') && /too many connected clients/i.test(reply.text)) this.limits.onEvent(this, 'too-many-connections');
    super.send(reply.code, reply.text, false);
    if ((code === 535 || code === 454) && ++this.authFailures === this.limits.maxAuthFailures && !this._closing) {
      this.limits.onEvent(this, 'auth-too-many-failures');
      super.send(421, `4.7.0 ${this.limits.hostname} Error: too many failed authentication attempts, closing connection`, false);
      return;
    }
    if (isBadCommandReply(code) && ++this.badCommands === this.limits.maxBadCommands && !this._closing) {
      this.limits.onEvent(this, 'too-many-bad-commands');
      super.send(421, `4.7.0 ${this.limits.hostname} Error: too many errors, closing connection`, false);
    }
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    if (this.helloReplyPending && !this._upgrading && !this._closing) {
      // A blind EHLO-QUIT (monitoring probes, `openssl s_client` fed a script) sends no mail.
      if (!isQuit(command)) return this.refuseEarlyTalker();
      this.helloReplyPending = false;
    }
    // smtp-server answers this one itself (421 "You talk too soon"); we only report it.
    if (!this._ready && !this._upgrading && !this._closing && !this._server._closeTimeout) this.limits?.onEvent(this, 'early-talker-pregreet');
    if (this.limits?.refuseEarlyPipelining && !this.pipeliningAdvertised && this._ready && !this._upgrading && !this._nextHandler && !this._closing && isHello(command)) {
      this.helloReplyPending = true;
      // The handler answers at once (corked, see send()); a command the parser dispatches
      // before the uncork below meets helloReplyPending above.
      super._onCommand(command, callback);
      // Queued after send()'s uncork: the reply has left by then. A partial line, or a
      // chunk the parser has not taken yet, was also sent before the client could read it.
      setImmediate(() => {
        const parser = this._parser;
        if (this.helloReplyPending && parser && (parser._remainder.length > 0 || parser.writableLength > 0) && !this._upgrading && !this._closing) this.refuseEarlyTalker();
        this.helloReplyPending = false;
      });
      return;
    }
    // The parser hands us the line without its line end.
    if (command.length + 2 > this.limits.maxLineLength + this.dsnAllowance(command) && this._ready && !this._upgrading && !this._nextHandler) {
      this.limits.onEvent(this, 'line-too-long');
      this.send(500, '5.5.2 Line too long');
      const next = callback ?? (() => false);
      setImmediate(() => this._whenWritable(next));
      return;
    }
    // A SASL continuation line (_nextHandler) is data, not a command.
    if (this.limits?.authAfterTls && !this.secure && this._ready && !this._upgrading && !this._nextHandler && /^AUTH\b/i.test(command.toString('latin1', 0, 5))) {
      this.limits.onEvent(this, 'auth-in-clear');
      // RFC 4954 §6 / RFC 3207: 538 5.7.11 Encryption required for requested authentication mechanism.
      this.send(538, '5.7.11 Encryption required: issue STARTTLS first');
      const next = callback ?? (() => false);
      setImmediate(() => this._whenWritable(next));
      return;
    }
    const dsnError = !this._server.options.hideDSN && this._ready && !this._upgrading && !this._nextHandler ? dsnParameterError(command.toString('utf8')) : null;
    if (dsnError) {
      this.send(501, `5.5.4 ${dsnError}`);
      const next = callback ?? (() => false);
      setImmediate(() => this._whenWritable(next));
      return;
    }
    super._onCommand(command, callback);
  }

  /** Postscreen's pipelining test failed: the client did not wait for the reply to EHLO/HELO. */
  private refuseEarlyTalker(): void {
    this.helloReplyPending = false;
    this.limits.onEvent(this, 'early-talker-pipelining');
    this.send(421, `4.7.0 ${this.limits.hostname} You talk too soon: command sent before the reply to EHLO/HELO`);
  }

  /**
   * RFC 3461 §4: with DSN, MAIL lines may be 100 octets longer (RET, ENVID) and RCPT lines 500
   * (NOTIFY, ORCPT); ORCPT alone may take 500, so RCPT gets room for its keywords too.
   */
  private dsnAllowance(command: Buffer): number {
    if (this._server.options.hideDSN) return 0;
    const verb = command.toString('latin1', 0, 5).toUpperCase();
    return verb === 'MAIL ' ? MAIL_DSN_OCTETS : verb === 'RCPT ' ? RCPT_DSN_OCTETS : 0;
  }

  /** AUTH exists for this session only once TLS is up: not in the EHLO list before. */
  override _isSupported(command: string): boolean {
    if (!this.secure && (command || '').toString().trim().toUpperCase() === 'AUTH') return false;
    return super._isSupported(command);
  }

  override _createParser(): SMTPStream {
    const parser = super._createParser();
    parser.removeAllListeners('error');
    // The only parser error is a line longer than its buffer cap; it has dropped its input.
    parser.on('error', () => {
      this.limits?.onEvent(this, 'line-too-long');
      this.send(500, '5.5.2 Line too long');
      this.send(421, '4.7.0 Line too long, closing connection');
    });
    return parser;
  }
}

/** Makes `server` create HopmailConnections (same steps as SMTPServer#connect). */
export function useHopmailConnections(server: SMTPServer, limits: ConnectionLimits): void {
  server.connect = (socket, socketOptions) => {
    const connection = new HopmailConnection(server, socket as Socket, socketOptions, limits);
    server.connections.add(connection);
    // A failed STARTTLS handshake surfaces through several socket events ('error',
    // '_tlsError'…): report it once per session, with the client address smtp-server's
    // STARTTLS path leaves out.
    let tlsErrorReported = false;
    connection.on('error', (err: Error & { meta?: Record<string, unknown> }) => {
      if (/\bTLS\b/.test(err.message) || (err as { code?: string }).code?.startsWith('ERR_SSL')) {
        if (tlsErrorReported) return;
        tlsErrorReported = true;
        err.meta = { ...err.meta, remoteAddress: err.meta?.remoteAddress ?? connection.remoteAddress };
      }
      server._onError(err);
    });
    connection.on('connect', (data) => server._onClientConnect(data));
    connection.init();
  };
}

const ID_DIGITS = '0123456789abcdefghijklmnopqrstuv';
const ID_OCTETS = 10;
let idPool = Buffer.alloc(0);
let idPoolAt = 0;

/**
 * A session id as smtp-server makes one (80 random bits, 16 base-32 digits: BigInt of the
 * hex, toString(32), padded), from a pooled randomBytes buffer and without the hex and
 * BigInt round trip, which cost ~19 µs per connection.
 */
export function newSessionId(): string {
  if (idPoolAt + ID_OCTETS > idPool.length) {
    idPool = randomBytes(ID_OCTETS * 256);
    idPoolAt = 0;
  }
  idPoolAt += ID_OCTETS;
  return sessionIdOf(idPool, idPoolAt - ID_OCTETS);
}

/** The 10 octets at `at` as 16 base-32 digits, most significant first. */
export function sessionIdOf(octets: Uint8Array, at = 0): string {
  let id = '';
  let acc = 0;
  let bits = 0;
  for (let i = at; i < at + ID_OCTETS; i++) {
    acc = ((acc << 8) | octets[i]!) & 0x1fff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      id += ID_DIGITS[(acc >>> bits) & 31];
    }
  }
  return id;
}

/**
 * Without PROXY protocol, smtp-server's _handleProxy() only makes the session id and then
 * hands the socket on in a later turn (setImmediate): under load a whole poll phase of other
 * sockets runs between accept and the greeting. Here the id is cheaper (newSessionId) and
 * connect() runs at once. With useProxy the library's own step stays (it reads the header).
 */
export function fastSessionStart(server: SMTPServer): void {
  if (server.options.useProxy) return;
  const ignored = server.options.ignoredHosts;
  server._handleProxy = (socket, callback) => {
    // Read now, as the library's step does: net.Socket keeps the peer's address once asked,
    // and a failed implicit-TLS handshake later destroys the socket before anyone else asks
    // (the tls-failed log line needs it).
    const remoteAddress = socket.remoteAddress ?? '';
    callback(null, { id: newSessionId(), ignore: !!ignored?.includes(remoteAddress) });
  };
}

/**
 * Implicit TLS (465) with a handshake deadline: smtp-server's _upgrade() gives the TLS
 * socket its idle timeout as the handshake deadline; this shortens it to `timeoutMs`. On
 * expiry smtp-server's own handler destroys the TLS socket with ERR_TLS_HANDSHAKE_TIMEOUT,
 * which reaches the server's 'error' listener like any failed handshake.
 */
export function boundTlsHandshakes(server: SMTPServer, timeoutMs: number): void {
  const upgrade = server._upgrade.bind(server);
  server._upgrade = (socket, callback) => {
    upgrade(socket, callback);
    // _upgrade() put the TLS socket in place of the plain one among the pending sockets.
    const tlsSocket = server._pendingSockets.get(socket);
    if (tlsSocket && tlsSocket !== socket && !tlsSocket.destroyed) tlsSocket.setTimeout(timeoutMs);
  };
}

/** Where the default TLS context comes from (a CertificateStore). */
export interface DefaultContextSource {
  getSecureContext(): SecureContext;
  /** Returns a function that stops the notifications. */
  onReload(listener: () => void): () => void;
}

/**
 * smtp-server hands clients without SNI (and every STARTTLS socket, before its SNICallback
 * runs) its '*' context, built once from the options: point it at the source's default
 * context now and after every reload, so renewals need no restart. Returns the detach.
 */
export function followDefaultContext(server: SMTPServer, source: DefaultContextSource): () => void {
  const contexts = server.secureContext;
  contexts.set('*', source.getSecureContext());
  return source.onReload(() => contexts.set('*', source.getSecureContext()));
}

/** The session neither runs a command of ours, nor receives DATA or a BDAT chunk, nor is closing. */
export function isIdle(connection: SMTPConnection): boolean {
  return !connection._handlerPending && !connection._dataStream && !(connection._parser && connection._parser._chunkMode) && !connection._closing;
}

/**
 * Says `code text` to every idle session (shutdown: smtp-server answers 421 to the next
 * command, but a session that just sits there would hold the close until its timeout).
 * A session receiving DATA or waiting for one of our hooks finishes first.
 */
export function tellIdleSessions(server: SMTPServer, code: number, text: string): void {
  for (const connection of server.connections) if (isIdle(connection)) connection.send(code, text);
}
