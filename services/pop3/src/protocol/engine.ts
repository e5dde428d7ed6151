// The POP3 engine (RFC 1939, RFC 2449, RFC 5034): bytes in, actions out. No sockets, no
// timers, no SQL: storage and credentials sit behind `Backend`, and the socket adapter
// performs the actions (write, delay, close) in order, awaiting each. Because the adapter
// awaits every yielded write before asking for the next action, a RETR streams with
// backpressure and pipelined commands are answered strictly in order (RFC 2449 §6.6).

import type { AuthOutcome, Backend, Maildrop } from './backend.ts';
import { DotStuffer, TopLimiter, stuffWhole } from './dot-stuff.ts';
import { LineReader } from './line-reader.ts';
import { EVENTS } from '../events.ts';

export interface EngineOptions {
  /** USER/PASS and AUTH PLAIN without TLS: local development only. */
  allowPlaintextAuth: boolean;
  /** STLS is offered (RFC 2595 §4): a certificate is configured and the connection is not yet TLS. */
  stls: boolean;
  /** RFC 2449 §4: at least 255 octets per command line, CRLF included. */
  maxCommandOctets: number;
  /** RFC 5034 §4: a SASL response line may exceed the command limit. */
  maxAuthLineOctets: number;
  /** Failed logins after which the connection is closed. */
  maxAuthFailures: number;
  /** Unknown commands and overlong lines after which the connection is closed. */
  maxBadCommands: number;
  /** Delay before answering a failed login; grows with each failure on the connection. */
  authFailureDelayMs: number;
  implementation: string;
}

export type SessionEvent =
  | { event: typeof EVENTS.authSucceeded; user: string; mechanism: 'USER' | 'PLAIN'; messages: number }
  | { event: typeof EVENTS.authFailed; user: string; mechanism: 'USER' | 'PLAIN'; reason: 'invalid' | 'limited' | 'authzid' }
  | { event: typeof EVENTS.authUnavailable; user: string }
  | { event: typeof EVENTS.maildropInUse; user: string }
  | { event: typeof EVENTS.maildropUnavailable; user: string }
  | { event: typeof EVENTS.updateDone; user: string; deleted: number; left: number }
  | { event: typeof EVENTS.updateFailed; user: string; err: unknown }
  | { event: typeof EVENTS.readFailed; user: string; err: unknown; midStream: boolean }
  | { event: typeof EVENTS.sessionTooManyFailures | typeof EVENTS.sessionTooManyBadCommands }
  /** STLS accepted; `discarded` octets the client pipelined after it were thrown away. */
  | { event: typeof EVENTS.tlsStls; discarded: number };

export type Action =
  | { type: 'write'; data: Buffer }
  /** Wait before the next action (failed-login delay). */
  | { type: 'delay'; ms: number }
  /** For the log only. */
  | { type: 'event'; detail: SessionEvent }
  /** Close the connection after the writes before it. */
  | { type: 'close' }
  /**
   * RFC 2595 §4: start the TLS handshake now, on the raw socket, before reading another
   * byte. The adapter drops whatever it has buffered, and calls tlsStarted() once the
   * handshake is done (or closes the connection if it fails).
   */
  | { type: 'starttls' };

type Gen = AsyncGenerator<Action, void, void>;

async function* single(a: Action): Gen {
  yield a;
}

async function* nothing(): Gen {}

// RFC 1939 §3 states. Each variant holds only what is valid in it: no maildrop before
// login, no pending USER name after it.
export type Pending = { kind: 'none' } | { kind: 'user'; name: string } | { kind: 'sasl-plain' };
export type AuthorizationState = { kind: 'authorization'; pending: Pending; failures: number };
export type TransactionState = { kind: 'transaction'; user: string; drop: Maildrop; deleted: Set<number> };
export type UpdateState = { kind: 'update'; user: string; drop: Maildrop; deleted: ReadonlySet<number> };
export type ClosedState = { kind: 'closed' };
export type State = AuthorizationState | TransactionState | UpdateState | ClosedState;

interface CommandSpec<S> {
  /** Argument count bounds (RFC 1939 §3: arguments up to 40 characters, space separated). */
  min: number;
  max: number;
  /** The whole rest of the line is one argument (PASS: passwords may contain spaces). */
  rest?: boolean;
  /** Arguments may exceed 40 characters (AUTH's initial response, RFC 5034 §4). */
  longArgs?: boolean;
  run(e: Pop3Engine, s: S, args: string[]): Gen;
}

const enc = (s: string) => Buffer.from(s, 'latin1');
const line = (s: string): Action => ({ type: 'write', data: enc(s + '\r\n') });
const ok = (s: string): Action => line(s ? `+OK ${s}` : '+OK');
const err = (s: string): Action => line(`-ERR ${s}`);
const multi = (first: string, lines: string[]): Action => ({
  type: 'write',
  // Only used for lines we generate (LIST, UIDL, CAPA): none begins with '.'.
  data: enc(`+OK ${first}\r\n${lines.map((l) => l + '\r\n').join('')}.\r\n`),
});

const COALESCE_BYTES = 16_384;
const COMMAND_RE = /^([A-Za-z]{1,8})(?: (.*))?$/s;
const NUMBER_RE = /^\d{1,10}$/;
/** A RETR alone on its line: what answerNow() answers. */
const RETR_RE = /^RETR (\d{1,10})\r?\n$/i;
const LF = 0x0a;
const PLAIN_B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export class Pop3Engine {
  state: State = { kind: 'authorization', pending: { kind: 'none' }, failures: 0 };
  readonly backend: Backend;
  readonly options: EngineOptions;
  readonly remoteIp: string;
  /** TLS is active on this connection (port 995, or after STLS). */
  secure: boolean;
  private readonly reader = new LineReader();
  /** Bumped by STLS: a receive() call started before it must not read on after it. */
  private epoch = 0;
  /** Between STLS's +OK and the end of the handshake: no input is read. */
  private awaitingTls = false;
  private badCommands = 0;
  /** The message RETR read last (-1: none), and the reply to the next one when prepareNext() built it. */
  private lastRetr = -1;
  private prepared: { index: number; reply: Buffer } | null = null;
  /** Whatever maildrop is open, whatever the state: dispose() must release it. */
  private openDrop: Maildrop | null = null;

  constructor(backend: Backend, options: EngineOptions, remoteIp: string, opts: { secure?: boolean } = {}) {
    this.backend = backend;
    this.options = options;
    this.remoteIp = remoteIp;
    this.secure = opts.secure ?? false;
  }

  /** RFC 1939 §4: no timestamp in the greeting, because there is no APOP. */
  greeting(): Action[] {
    return [ok(`${this.options.implementation} POP3 server ready`)];
  }

  get closed(): boolean {
    return this.state.kind === 'closed';
  }

  get plaintextAuthAllowed(): boolean {
    return this.secure || this.options.allowPlaintextAuth;
  }

  /** STLS may be issued now: offered, not yet in TLS, still in AUTHORIZATION. */
  get stlsAvailable(): boolean {
    return this.options.stls && !this.secure && !this.awaitingTls && this.state.kind === 'authorization';
  }

  /** Feeds bytes; yields the actions for every complete command, in order. */
  async *receive(chunk: Buffer): Gen {
    // After STLS nothing is read until the handshake is done; bytes that arrive here in
    // the meantime were sent in clear after STLS and are dropped (RFC 2595 §4).
    if (this.closed || this.awaitingTls) return;
    const epoch = this.epoch;
    this.reader.push(chunk);
    while (!this.closed && this.epoch === epoch) {
      const s = this.state;
      const sasl = s.kind === 'authorization' && s.pending.kind === 'sasl-plain';
      const r = this.reader.next(sasl ? this.options.maxAuthLineOctets : this.options.maxCommandOctets);
      if (r.kind === 'none') return;
      if (r.kind === 'overlong') {
        if (s.kind === 'authorization') s.pending = { kind: 'none' };
        yield* this.bad('line too long');
        continue;
      }
      if (sasl && s.kind === 'authorization') yield* this.saslResponse(s, r.text);
      else yield* this.command(r.text);
    }
  }

  /**
   * RFC 2595 §4 STLS, accepted: everything the client sent after the command line is
   * discarded (it came in clear and could have been injected by a man in the middle), and
   * the session goes back to a fresh AUTHORIZATION state, forgetting anything learned
   * from the client before TLS. The failure counters are ours, not the client's: they stay.
   */
  beginTls(s: AuthorizationState): number {
    const discarded = this.reader.clear();
    this.epoch++;
    this.awaitingTls = true;
    this.state = { kind: 'authorization', pending: { kind: 'none' }, failures: s.failures };
    return discarded;
  }

  /** The adapter finished the TLS handshake after STLS. */
  tlsStarted(): void {
    this.awaitingTls = false;
    this.secure = true;
    this.reader.clear();
  }

  /** RFC 1939 §3 autologout: close without entering UPDATE, so nothing is deleted. */
  autologout(): Action[] {
    this.state = { kind: 'closed' };
    return [err('autologout; idle for too long'), { type: 'close' }];
  }

  /** Refuses the connection before the greeting (server full, shutting down). */
  static refuse(text: string): Action[] {
    return [err(`[SYS/TEMP] ${text}`), { type: 'close' }];
  }

  /** The connection is gone (or the session ended): release the lock, delete nothing. */
  async dispose(): Promise<void> {
    this.state = { kind: 'closed' };
    const drop = this.openDrop;
    this.openDrop = null;
    if (drop) await drop.release();
  }

  /**
   * The whole reply when `chunk` is exactly one `RETR n` line of a live message that is already
   * in memory, nothing else buffered: answered synchronously, without the generator path that
   * every other command takes (a client reading its mailbox in order waits on this round trip
   * once per message). Null for anything else; then nothing was consumed and receive() takes
   * the chunk. The reply is the one receive() would give, byte for byte.
   */
  answerNow(chunk: Buffer): Buffer | null {
    const s = this.state;
    const n = chunk.length;
    if (s.kind !== 'transaction' || this.reader.pending > 0 || n > this.options.maxCommandOctets || chunk[n - 1] !== LF || chunk.indexOf(LF) !== n - 1) return null;
    const m = RETR_RE.exec(chunk.toString('latin1'));
    if (!m) return null;
    const index = this.message(s, m[1]!);
    if (typeof index === 'string') return null;
    return this.wholeReply(s, index, null);
  }

  /**
   * Builds the reply to RETR of the message after the one retrieved last, when that message is
   * in memory already (read ahead): the listener calls this once a reply is written, so that a
   * client reading in order gets the next one without the stuffing on its round trip.
   */
  prepareNext(): void {
    const s = this.state;
    const next = this.lastRetr + 1;
    if (s.kind !== 'transaction' || next === 0 || next >= s.drop.messages.length || this.prepared?.index === next || s.deleted.has(next)) return;
    const whole = s.drop.peek(next);
    const reply = whole && stuffWhole(statusLine(s, next, null), whole);
    this.prepared = reply ? { index: next, reply } : null;
  }

  /** RETR/TOP's reply in one buffer when the message is in memory (read ahead) and needs no normalising; null otherwise. */
  private wholeReply(s: TransactionState, index: number, bodyLines: number | null): Buffer | null {
    const whole = s.drop.readNow(index);
    if (bodyLines !== null) return whole ? stuffWhole(statusLine(s, index, bodyLines), new TopLimiter(bodyLines).push(whole)) : null;
    this.lastRetr = index;
    const ready = this.prepared;
    this.prepared = null;
    if (!whole) return null;
    return ready?.index === index ? ready.reply : stuffWhole(statusLine(s, index, null), whole);
  }

  // command() and dispatch() hand back the handler's generator rather than delegating to it
  // (yield*): every async generator level a reply passes through costs promise turns, and a
  // RETR answered from memory is otherwise little more than that.
  private command(text: string): Gen {
    const m = COMMAND_RE.exec(text);
    const keyword = m?.[1]?.toUpperCase() ?? '';
    const s = this.state;
    if (!m || !KNOWN.has(keyword)) return this.bad('unknown command');
    // RFC 1939 §7: PASS only immediately after a successful USER.
    if (s.kind === 'authorization' && keyword !== 'PASS') s.pending = { kind: 'none' };
    const restText = m[2] ?? '';
    if (s.kind === 'authorization') return this.dispatch(AUTHORIZATION_COMMANDS, s, keyword, restText);
    if (s.kind === 'transaction') return this.dispatch(TRANSACTION_COMMANDS, s, keyword, restText);
    return nothing();
  }

  // Guards run here, once, before any handler: state, argument count and length.
  private dispatch<S>(table: Record<string, CommandSpec<S>>, s: S, keyword: string, restText: string): Gen {
    const spec = table[keyword];
    if (!spec) return single(err('command not valid in this state'));
    let args: string[];
    if (spec.rest) args = restText === '' ? [] : [restText];
    else {
      args = restText === '' ? [] : restText.split(' ');
      if (args.some((a) => a.length === 0)) return single(err('malformed command'));
      if (!spec.longArgs && args.some((a) => a.length > 40)) return single(err('argument too long'));
    }
    if (args.length < spec.min || args.length > spec.max) return single(err(`wrong number of arguments for ${keyword}`));
    return spec.run(this, s, args);
  }

  private async *bad(text: string): Gen {
    if (++this.badCommands >= this.options.maxBadCommands) {
      yield { type: 'event', detail: { event: EVENTS.sessionTooManyBadCommands } };
      yield err(`${text}; too many bad commands, closing connection`);
      return yield* this.close();
    }
    yield err(text);
  }

  async *close(): Gen {
    this.state = { kind: 'closed' };
    yield { type: 'close' };
  }

  capabilities(): string[] {
    const caps = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
    // RFC 2595 §4: STLS only before TLS and only in AUTHORIZATION (it is valid nowhere else).
    if (this.stlsAvailable) caps.push('STLS');
    if (this.state.kind === 'authorization' && this.plaintextAuthAllowed) caps.push('USER', 'SASL PLAIN');
    caps.push(`IMPLEMENTATION ${this.options.implementation}`);
    return caps;
  }

  // RFC 5034 §4: the client's response to "+ ".
  private async *saslResponse(s: AuthorizationState, text: string): Gen {
    s.pending = { kind: 'none' };
    if (text === '*') return yield err('authentication cancelled');
    yield* this.plain(s, text);
  }

  /** RFC 4616 PLAIN message: [authzid] NUL authcid NUL passwd. */
  async *plain(s: AuthorizationState, b64: string): Gen {
    if (b64 === '=') b64 = '';
    if (!PLAIN_B64_RE.test(b64)) return yield err('malformed SASL response (not base64)');
    const raw = Buffer.from(b64, 'base64');
    const first = raw.indexOf(0);
    const second = first < 0 ? -1 : raw.indexOf(0, first + 1);
    if (first < 0 || second < 0 || raw.indexOf(0, second + 1) >= 0) return yield err('malformed SASL PLAIN message');
    const authzid = raw.subarray(0, first).toString('utf8');
    const authcid = raw.subarray(first + 1, second).toString('utf8');
    const password = raw.subarray(second + 1);
    if (authcid === '' || password.length === 0) return yield err('malformed SASL PLAIN message');
    // We offer no proxy authorization: the identity acted as must be the one proven.
    if (authzid !== '' && authzid !== authcid) {
      return yield* this.failed(s, authcid, 'PLAIN', 'authzid', 'authorization identity not permitted');
    }
    yield* this.login(s, authcid, password, 'PLAIN');
  }

  async *login(s: AuthorizationState, user: string, password: Buffer, mechanism: 'USER' | 'PLAIN'): Gen {
    let auth: AuthOutcome;
    try {
      auth = await this.backend.authenticate(user, password, { remoteIp: this.remoteIp });
    } catch {
      auth = { ok: false, reason: 'unavailable' };
    }
    if (!auth.ok) {
      if (auth.reason === 'unavailable') {
        yield { type: 'event', detail: { event: EVENTS.authUnavailable, user } };
        return yield err('[SYS/TEMP] authentication temporarily unavailable');
      }
      return yield* this.failed(s, user, mechanism, auth.reason, 'invalid user name or password');
    }
    let opened;
    try {
      opened = await this.backend.openMaildrop(auth.mailboxId);
    } catch {
      opened = { ok: false, reason: 'unavailable' } as const;
    }
    if (!opened.ok) {
      if (opened.reason === 'in-use') {
        yield { type: 'event', detail: { event: EVENTS.maildropInUse, user: auth.address } };
        return yield err('[IN-USE] maildrop already locked by another session');
      }
      yield { type: 'event', detail: { event: EVENTS.maildropUnavailable, user: auth.address } };
      return yield err('[SYS/TEMP] maildrop temporarily unavailable');
    }
    this.openDrop = opened.drop;
    if (this.state !== s) {
      // The connection ended while we were opening (autologout): dispose() releases.
      return;
    }
    this.state = { kind: 'transaction', user: auth.address, drop: opened.drop, deleted: new Set() };
    const { count, octets } = totals(opened.drop, new Set());
    yield { type: 'event', detail: { event: EVENTS.authSucceeded, user: auth.address, mechanism, messages: count } };
    yield ok(`${auth.address} has ${count} message${count === 1 ? '' : 's'} (${octets} octets)`);
  }

  private async *failed(s: AuthorizationState, user: string, mechanism: 'USER' | 'PLAIN', reason: 'invalid' | 'limited' | 'authzid', text: string): Gen {
    s.failures++;
    yield { type: 'event', detail: { event: EVENTS.authFailed, user, mechanism, reason } };
    if (this.options.authFailureDelayMs > 0) yield { type: 'delay', ms: this.options.authFailureDelayMs * s.failures };
    if (s.failures >= this.options.maxAuthFailures) {
      yield { type: 'event', detail: { event: EVENTS.sessionTooManyFailures } };
      yield err(`[AUTH] ${text}; too many failures, closing connection`);
      return yield* this.close();
    }
    yield err(`[AUTH] ${text}`);
  }

  async *quitTransaction(s: TransactionState): Gen {
    const update: UpdateState = { kind: 'update', user: s.user, drop: s.drop, deleted: s.deleted };
    this.state = update;
    const { count } = totals(s.drop, s.deleted);
    try {
      if (update.deleted.size > 0) await update.drop.commit([...update.deleted].sort((a, b) => a - b));
      yield { type: 'event', detail: { event: EVENTS.updateDone, user: s.user, deleted: update.deleted.size, left: count } };
      yield ok(`${this.options.implementation} POP3 server signing off (${count === 0 ? 'maildrop empty' : `${count} message${count === 1 ? '' : 's'} left`})`);
    } catch (e) {
      // RFC 1939 §6: -ERR when removal failed; the commit is one transaction, so nothing was removed.
      yield { type: 'event', detail: { event: EVENTS.updateFailed, user: s.user, err: e } };
      yield err('[SYS/TEMP] some deleted messages not removed');
    }
    yield* this.close();
  }

  /** RFC 2449 §8.1.1 [AUTH]: this connection may not carry a password. */
  plaintextRefusal(): Action {
    return err(
      this.options.stls
        ? '[AUTH] plaintext authentication is disabled; use STLS first (or port 995)'
        : '[AUTH] plaintext authentication is disabled; use TLS on port 995',
    );
  }

  /** Resolves "n" to an index of a live message, or the -ERR text. */
  message(s: TransactionState, arg: string): number | string {
    if (!NUMBER_RE.test(arg)) return 'invalid message number';
    const n = Number(arg);
    if (n < 1 || n > s.drop.messages.length) return 'no such message';
    if (s.deleted.has(n - 1)) return `message ${n} already deleted`;
    return n - 1;
  }

  async *send(s: TransactionState, index: number, bodyLines: number | null): Gen {
    // Read ahead already: the whole reply in one buffer, one write, no round trip.
    const reply = this.wholeReply(s, index, bodyLines);
    if (reply) return yield { type: 'write', data: reply };
    const head = statusLine(s, index, bodyLines);
    const iterator = s.drop.read(index)[Symbol.asyncIterator]();
    let r: IteratorResult<Buffer>;
    try {
      r = await iterator.next();
    } catch (e) {
      yield { type: 'event', detail: { event: EVENTS.readFailed, user: s.user, err: e, midStream: false } };
      return yield err('[SYS/TEMP] cannot read message now');
    }
    const stuffer = new DotStuffer();
    const top = bodyLines === null ? null : new TopLimiter(bodyLines);
    // Status line, body and terminator go out in as few writes as possible (a small
    // message is one write); anything over COALESCE_BYTES is flushed at once.
    let pending: Buffer[] = [head];
    let pendingBytes = 0;
    let flushed = false;
    try {
      while (!r.done) {
        const data = stuffer.push(top ? top.push(r.value) : r.value);
        pending.push(data);
        pendingBytes += data.length;
        if (top?.done) break;
        if (pendingBytes >= COALESCE_BYTES) {
          flushed = true;
          yield { type: 'write', data: Buffer.concat(pending) };
          pending = [];
          pendingBytes = 0;
        }
        r = await iterator.next();
      }
    } catch (e) {
      yield { type: 'event', detail: { event: EVENTS.readFailed, user: s.user, err: e, midStream: flushed } };
      // Nothing sent yet: a plain -ERR, and the session goes on.
      if (!flushed) return yield err('[SYS/TEMP] cannot read message now');
      // Part of the message is on the wire: the only honest signal left is closing.
      return yield* this.close();
    } finally {
      if (top?.done) await iterator.return?.();
    }
    pending.push(stuffer.end());
    yield { type: 'write', data: Buffer.concat(pending) };
  }
}

/** The +OK line of RETR (`bodyLines` null) or TOP. */
function statusLine(s: TransactionState, index: number, bodyLines: number | null): Buffer {
  return enc(`+OK ${bodyLines === null ? `${s.drop.messages[index]!.size} octets` : 'top of message follows'}\r\n`);
}

function totals(drop: Maildrop, deleted: ReadonlySet<number>): { count: number; octets: number } {
  let count = 0;
  let octets = 0;
  drop.messages.forEach((m, i) => {
    if (!deleted.has(i)) {
      count++;
      octets += m.size;
    }
  });
  return { count, octets };
}

// --- AUTHORIZATION state (RFC 1939 §4, RFC 2449 §5, RFC 5034) ---------------------------

const AUTHORIZATION_COMMANDS: Record<string, CommandSpec<AuthorizationState>> = {
  // RFC 2449 §5
  CAPA: {
    min: 0, max: 0,
    async *run(e) {
      yield multi('Capability list follows', e.capabilities());
    },
  },
  // RFC 1939 §7 USER. Always +OK: the reply must not tell whether the mailbox exists.
  USER: {
    min: 1, max: 1, longArgs: true, // real addresses often exceed RFC 1939's 40 characters
    async *run(e, s, [name]) {
      if (!e.plaintextAuthAllowed) return yield e.plaintextRefusal();
      s.pending = { kind: 'user', name: name! };
      yield ok('send PASS');
    },
  },
  // RFC 1939 §7 PASS
  PASS: {
    min: 1, max: 1, rest: true,
    async *run(e, s, [password]) {
      const pending = s.pending;
      s.pending = { kind: 'none' };
      if (!e.plaintextAuthAllowed) return yield e.plaintextRefusal();
      if (pending.kind !== 'user') return yield err('send USER first');
      yield* e.login(s, pending.name, Buffer.from(password!, 'latin1'), 'USER');
    },
  },
  // RFC 5034 §4 AUTH; only PLAIN (RFC 4616) is offered.
  AUTH: {
    min: 1, max: 2, longArgs: true,
    async *run(e, s, [mechanism, initial]) {
      if (mechanism!.toUpperCase() !== 'PLAIN') return yield err('unsupported authentication mechanism');
      if (!e.plaintextAuthAllowed) return yield e.plaintextRefusal();
      if (initial === undefined) {
        s.pending = { kind: 'sasl-plain' };
        return yield line('+ ');
      }
      yield* e.plain(s, initial);
    },
  },
  // RFC 2595 §4 STLS: AUTHORIZATION state only, once, and never on port 995.
  STLS: {
    min: 0, max: 0,
    async *run(e, s) {
      if (e.secure) return yield err('command not permitted when TLS active');
      if (!e.options.stls) return yield err('STLS not available (no certificate configured)');
      const discarded = e.beginTls(s);
      yield { type: 'event', detail: { event: EVENTS.tlsStls, discarded } };
      yield ok('Begin TLS negotiation');
      yield { type: 'starttls' };
    },
  },
  // RFC 1939 §5 QUIT in AUTHORIZATION: no UPDATE state.
  QUIT: {
    min: 0, max: 0,
    async *run(e) {
      yield ok(`${e.options.implementation} POP3 server signing off`);
      yield* e.close();
    },
  },
};

// --- TRANSACTION state (RFC 1939 §5) ------------------------------------------------------

const TRANSACTION_COMMANDS: Record<string, CommandSpec<TransactionState>> = {
  CAPA: AUTHORIZATION_COMMANDS.CAPA as unknown as CommandSpec<TransactionState>,
  // RFC 1939 §5 STAT
  STAT: {
    min: 0, max: 0,
    async *run(_e, s) {
      const { count, octets } = totals(s.drop, s.deleted);
      yield ok(`${count} ${octets}`);
    },
  },
  // RFC 1939 §5 LIST [msg]
  LIST: {
    min: 0, max: 1,
    async *run(e, s, [arg]) {
      if (arg !== undefined) {
        const i = e.message(s, arg);
        if (typeof i === 'string') return yield err(i);
        return yield ok(`${i + 1} ${s.drop.messages[i]!.size}`);
      }
      const { count, octets } = totals(s.drop, s.deleted);
      const lines: string[] = [];
      s.drop.messages.forEach((m, i) => {
        if (!s.deleted.has(i)) lines.push(`${i + 1} ${m.size}`);
      });
      yield multi(`${count} message${count === 1 ? '' : 's'} (${octets} octets)`, lines);
    },
  },
  // RFC 1939 §5 RETR msg
  RETR: {
    min: 1, max: 1,
    run(e, s, [arg]) {
      const i = e.message(s, arg!);
      return typeof i === 'string' ? single(err(i)) : e.send(s, i, null);
    },
  },
  // RFC 1939 §5 DELE msg: only marks; UPDATE removes.
  DELE: {
    min: 1, max: 1,
    async *run(e, s, [arg]) {
      const i = e.message(s, arg!);
      if (typeof i === 'string') return yield err(i);
      s.deleted.add(i);
      yield ok(`message ${i + 1} deleted`);
    },
  },
  // RFC 1939 §5 NOOP
  NOOP: {
    min: 0, max: 0,
    async *run() {
      yield ok('');
    },
  },
  // RFC 1939 §5 RSET
  RSET: {
    min: 0, max: 0,
    async *run(_e, s) {
      s.deleted.clear();
      const { count, octets } = totals(s.drop, s.deleted);
      yield ok(`maildrop has ${count} message${count === 1 ? '' : 's'} (${octets} octets)`);
    },
  },
  // RFC 1939 §7 TOP msg n
  TOP: {
    min: 2, max: 2,
    run(e, s, [arg, lines]) {
      const i = e.message(s, arg!);
      if (typeof i === 'string') return single(err(i));
      if (!NUMBER_RE.test(lines!)) return single(err('invalid number of lines'));
      return e.send(s, i, Number(lines));
    },
  },
  // RFC 1939 §7 UIDL [msg]
  UIDL: {
    min: 0, max: 1,
    async *run(e, s, [arg]) {
      if (arg !== undefined) {
        const i = e.message(s, arg);
        if (typeof i === 'string') return yield err(i);
        return yield ok(`${i + 1} ${s.drop.messages[i]!.uidl}`);
      }
      const lines: string[] = [];
      s.drop.messages.forEach((m, i) => {
        if (!s.deleted.has(i)) lines.push(`${i + 1} ${m.uidl}`);
      });
      yield multi('unique-id listing follows', lines);
    },
  },
  // RFC 1939 §6 QUIT in TRANSACTION: enter UPDATE.
  QUIT: {
    min: 0, max: 0,
    async *run(e, s) {
      yield* e.quitTransaction(s);
    },
  },
};

const KNOWN = new Set([...Object.keys(AUTHORIZATION_COMMANDS), ...Object.keys(TRANSACTION_COMMANDS)]);

/** Which commands each state allows (for documentation and tests). */
export const COMMANDS_BY_STATE = {
  authorization: Object.keys(AUTHORIZATION_COMMANDS),
  transaction: Object.keys(TRANSACTION_COMMANDS),
} as const;
