// The IMAP session (RFC 9051 IMAP4rev2, with IMAP4rev1 RFC 3501 clients): states, the command
// table saying which commands each state allows, and the handlers. Pure of sockets: the
// listener hands it complete commands (protocol/parser.ts) and performs its writes, awaiting
// each one, so a client that stops reading stops the session instead of growing memory.
import { ParseError, astring, tokenize, type ReaderItem, type Token } from './parser.ts';
import { decodeMutf7, join, list, literal, mailboxName, nstr, quoted, str, type Piece } from './encoder.ts';
import { formatSet, inRanges, parseSequenceSet, seqOfUid, type Range } from './sequence.ts';
import { BadCharset, parseDate, parseSearch, seqToUid, type SearchKey } from './search.ts';
import { headerEnd, parseMessage, partAt, selectHeaderLines } from './mime.ts';
import { bodyStructure, envelope } from './structure.ts';
import { SORT_KEYS, orderedSubjectThreads, sortItems, type SortCriterion, type SortKey } from './sort.ts';
import { referencesThreads } from './thread.ts';
import type { FetchRows, Folder, MessageMeta, Store, StoreMode } from './store.ts';
import { validateMailboxName, matchPattern } from '../policy/names.ts';
import { EVENTS } from '../events.ts';

export type State = 'not-authenticated' | 'authenticated' | 'selected' | 'logout';

export interface EngineOptions {
  /** LOGIN/AUTHENTICATE before TLS (development only). */
  allowPlaintextAuth: boolean;
  /** STARTTLS offered (a certificate is loaded and this is not the implicit-TLS port). */
  starttls: boolean;
  maxAuthFailures: number;
  maxBadCommands: number;
  authFailureDelayMs: number;
  /** Largest APPEND message. */
  maxMessageOctets: number;
  /** Messages one FETCH/STORE/COPY may touch at once (larger sets are worked through in batches). */
  batchSize: number;
  /** FETCH batches being read from storage while the one before them is written (FETCH_READ_AHEAD, at least 1). */
  fetchReadAhead: number;
}

/** What the session asks its I/O layer to do. */
export interface SessionIO {
  /** Writes the bytes (an array: in one go, as one writev), resolving once the socket can take more. */
  write(data: Buffer | Buffer[]): Promise<void>;
  /** Upgrades the connection; false when the handshake failed (the connection is gone). */
  startTls(): Promise<boolean>;
  delay(ms: number): Promise<void>;
  event(name: string, detail?: Record<string, unknown>): void;
  /** Called on login and on logout: the session wants change notifications for this mailbox. */
  watch(mailboxId: string | null): void;
}

interface Selected {
  folder: Folder;
  readOnly: boolean;
  /** UIDs by sequence number - 1. */
  uids: number[];
  /** Highest MODSEQ the client has been told about. */
  modseq: number;
  uidNext: number;
}

interface Command {
  tag: string;
  name: string;
  args: Token[];
  uid: boolean;
}

const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];
const SYSTEM_BY_LOWER = new Map(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));
const ATOM_FLAG = /^\\?[!#$&'+,\-.0-9:;<=>?@A-Z^_`a-z|~]{1,64}$/;

const STATES_ANY: State[] = ['not-authenticated', 'authenticated', 'selected'];
const STATES_AUTH: State[] = ['authenticated', 'selected'];
const STATES_SEL: State[] = ['selected'];

type Handler = (this: ImapSession, c: Command) => Promise<void>;

export class ImapSession {
  state: State = 'not-authenticated';
  /** What the listener should read next: commands, or one raw line (AUTHENTICATE, IDLE). */
  mode: 'command' | 'sasl' | 'idle' = 'command';
  private tls: boolean;
  private readonly store: Store;
  private readonly io: SessionIO;
  private readonly options: EngineOptions;
  private readonly remoteIp: string;
  private user: { mailboxId: string; address: string } | null = null;
  private sel: Selected | null = null;
  private utf8 = false;
  private rev2 = false;
  private condstore = false;
  private qresync = false;
  private authFailures = 0;
  private badCommands = 0;
  private pendingTag: string | null = null;
  private dirty = false;
  closed = false;

  constructor(store: Store, io: SessionIO, options: EngineOptions, remoteIp: string, secure: boolean) {
    this.store = store;
    this.io = io;
    this.options = options;
    this.remoteIp = remoteIp;
    this.tls = secure;
  }

  capabilities(): string {
    const caps = ['IMAP4rev1', 'IMAP4rev2', 'LITERAL+', 'MULTIAPPEND', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', 'NAMESPACE', 'UNSELECT', 'UIDPLUS', 'MOVE', 'CHILDREN', 'SPECIAL-USE', 'LIST-EXTENDED', 'LIST-STATUS', 'STATUS=SIZE', 'UTF8=ACCEPT', 'CONDSTORE', 'QRESYNC', 'ESEARCH', 'SORT', 'SORT=DISPLAY', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES', 'QUOTA', 'QUOTA=RES-STORAGE', 'QUOTA=RES-MESSAGE'];
    if (this.state === 'not-authenticated') {
      if (this.options.starttls && !this.tls) caps.push('STARTTLS');
      if (this.tls || this.options.allowPlaintextAuth) caps.push('AUTH=PLAIN');
      else caps.push('LOGINDISABLED');
    }
    return caps.join(' ');
  }

  greeting(): Buffer {
    return Buffer.from(`* OK [CAPABILITY ${this.capabilities()}] Hopmail IMAP ready\r\n`);
  }

  static refuse(text: string): Buffer {
    return Buffer.from(`* BYE ${text}\r\n`);
  }

  autologout(): Buffer {
    this.state = 'logout';
    return Buffer.from('* BYE autologout; idle for too long\r\n');
  }

  shuttingDown(): Buffer {
    this.state = 'logout';
    return Buffer.from('* BYE [UNAVAILABLE] server shutting down\r\n');
  }

  private async send(...pieces: Piece[]): Promise<void> {
    await this.io.write(join(pieces));
  }

  private async ok(tag: string, text: string, code?: string): Promise<void> {
    await this.send(`${tag} OK ${code ? `[${code}] ` : ''}${text}\r\n`);
  }

  private async no(tag: string, text: string, code?: string): Promise<void> {
    await this.send(`${tag} NO ${code ? `[${code}] ` : ''}${text}\r\n`);
  }

  private async bad(tag: string, text: string, code?: string): Promise<void> {
    this.badCommands++;
    await this.send(`${tag} BAD ${code ? `[${code}] ` : ''}${text}\r\n`);
    if (this.badCommands >= this.options.maxBadCommands) {
      this.io.event(EVENTS.sessionTooManyBadCommands);
      await this.send('* BYE too many bad commands\r\n');
      this.closed = true;
    }
  }

  /** A reader item (command, continuation request, refused command). */
  async receive(item: ReaderItem): Promise<void> {
    if (item.type === 'continue') return this.send('+ go ahead\r\n');
    if (item.type === 'refused') {
      const tag = item.tag ?? '*';
      const text = item.reason === 'line-too-long' ? 'line too long' : item.reason === 'literal-too-big' ? 'literal too big' : 'command too big';
      if (item.fatal) {
        await this.send(`* BYE [TOOBIG] ${text}\r\n`);
        this.closed = true;
        return;
      }
      return this.bad(tag, text, 'TOOBIG');
    }
    await this.command(item.line, item.literals);
  }

  private async command(line: string, literals: Buffer[]): Promise<void> {
    const m = /^([^\s(){%*"\\+]+) ([A-Za-z]+)(?: (.*))?$/s.exec(line);
    if (!m) {
      const tag = /^([^\s(){%*"\\+]+)(?: |$)/.exec(line)?.[1] ?? '*';
      return this.bad(tag, 'expected: tag command arguments');
    }
    const tag = m[1]!;
    let name = m[2]!.toUpperCase();
    let args: Token[];
    try {
      args = tokenize(m[3] ?? '', literals);
    } catch (e) {
      if (e instanceof ParseError) return this.bad(tag, e.message);
      throw e;
    }
    let uid = false;
    if (name === 'UID') {
      const sub = args.shift();
      name = sub?.t === 'atom' ? sub.v.toUpperCase() : '';
      if (!['FETCH', 'STORE', 'SEARCH', 'SORT', 'THREAD', 'COPY', 'MOVE', 'EXPUNGE'].includes(name)) return this.bad(tag, 'UID needs FETCH, STORE, SEARCH, SORT, THREAD, COPY, MOVE or EXPUNGE');
      uid = true;
    }
    const entry = COMMANDS[name];
    if (!entry) return this.bad(tag, 'unknown command');
    if (!entry.states.includes(this.state)) {
      const where = this.state === 'not-authenticated' ? 'log in first' : entry.states.includes('selected') ? 'select a mailbox first' : 'already logged in';
      return this.bad(tag, `${name}: ${where}`);
    }
    try {
      await entry.run.call(this, { tag, name, args, uid });
    } catch (e) {
      if (e instanceof ParseError) return this.bad(tag, e.message);
      if (e instanceof BadCharset) return this.no(tag, 'unsupported charset', 'BADCHARSET (UTF-8 US-ASCII)');
      this.io.event(EVENTS.sessionError, { err: e, command: name });
      return this.no(tag, 'server error, try again later', 'UNAVAILABLE');
    }
  }

  /** A raw line while in `sasl` or `idle` mode. */
  async line(text: string): Promise<void> {
    const tag = this.pendingTag ?? '*';
    if (this.mode === 'idle') {
      this.mode = 'command';
      this.pendingTag = null;
      if (text.toUpperCase() !== 'DONE') return this.bad(tag, 'expected DONE');
      await this.sendUpdates(true);
      return this.ok(tag, 'IDLE terminated');
    }
    if (this.mode === 'sasl') {
      this.mode = 'command';
      this.pendingTag = null;
      if (text === '*') return this.bad(tag, 'authentication cancelled');
      return this.plain(tag, text);
    }
  }

  /** Another session or a delivery changed the watched mailbox (`wake`: the notification's key). */
  async changed(wake?: string): Promise<void> {
    if (!this.sel) return;
    if (this.mode === 'idle') await this.sendUpdates(true, wake);
    else this.dirty = true;
  }

  // --- any state (RFC 9051 §6.1) ---

  /** RFC 9051 §6.1.1 */
  async capability(c: Command): Promise<void> {
    await this.send(`* CAPABILITY ${this.capabilities()}\r\n`);
    await this.ok(c.tag, 'CAPABILITY completed');
  }

  /** RFC 9051 §6.1.2 */
  async noop(c: Command): Promise<void> {
    await this.sendUpdates(true);
    await this.ok(c.tag, `${c.name} completed`);
  }

  /** RFC 9051 §6.1.3 */
  async logout(c: Command): Promise<void> {
    await this.send('* BYE Hopmail IMAP signing off\r\n');
    await this.ok(c.tag, 'LOGOUT completed');
    this.state = 'logout';
    this.closed = true;
  }

  /** RFC 2971 */
  async id(c: Command): Promise<void> {
    await this.send('* ID ("name" "Hopmail")\r\n');
    await this.ok(c.tag, 'ID completed');
  }

  // --- not authenticated (RFC 9051 §6.2) ---

  /** RFC 9051 §6.2.1 */
  async starttls(c: Command): Promise<void> {
    if (!this.options.starttls || this.tls) return this.bad(c.tag, 'STARTTLS not available');
    await this.ok(c.tag, 'begin TLS negotiation now');
    if (!(await this.io.startTls())) {
      this.closed = true;
      return;
    }
    this.tls = true;
  }

  private plaintextRefused(): boolean {
    return !this.tls && !this.options.allowPlaintextAuth;
  }

  /** RFC 9051 §6.2.3 */
  async login(c: Command): Promise<void> {
    if (this.plaintextRefused()) return this.no(c.tag, 'use STARTTLS or port 993 first', 'PRIVACYREQUIRED');
    const user = astring(c.args[0]);
    const pass = c.args[1];
    if (user === null || !pass || pass.t === 'list' || c.args.length !== 2) return this.bad(c.tag, 'LOGIN user password');
    await this.finishLogin(c.tag, user, pass.t === 'string' ? pass.v : Buffer.from(pass.v));
  }

  /** RFC 9051 §6.2.2, SASL PLAIN (RFC 4616), initial response allowed (SASL-IR, RFC 4959) */
  async authenticate(c: Command): Promise<void> {
    const mech = astring(c.args[0])?.toUpperCase();
    if (mech !== 'PLAIN') return this.no(c.tag, 'only PLAIN is supported', 'CANNOT');
    if (this.plaintextRefused()) return this.no(c.tag, 'use STARTTLS or port 993 first', 'PRIVACYREQUIRED');
    const ir = astring(c.args[1]);
    if (ir !== null) return this.plain(c.tag, ir === '=' ? '' : ir);
    this.mode = 'sasl';
    this.pendingTag = c.tag;
    await this.send('+ \r\n');
  }

  private async plain(tag: string, b64: string): Promise<void> {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return this.bad(tag, 'invalid base64');
    const parts = Buffer.from(b64, 'base64').toString('utf8').split('\0');
    if (parts.length !== 3) return this.bad(tag, 'malformed PLAIN response');
    const [authz, user, pass] = parts as [string, string, string];
    if (authz !== '' && authz.toLowerCase() !== user.toLowerCase()) return this.no(tag, 'authorization identity must be empty', 'AUTHORIZATIONFAILED');
    await this.finishLogin(tag, user, Buffer.from(pass, 'utf8'));
  }

  private async finishLogin(tag: string, user: string, password: Buffer): Promise<void> {
    const outcome = await this.store.authenticate(user, password, { remoteIp: this.remoteIp });
    if (outcome.ok) {
      this.user = { mailboxId: outcome.mailboxId, address: outcome.address };
      this.state = 'authenticated';
      this.io.event(EVENTS.authSucceeded, { user: outcome.address });
      this.io.watch(outcome.mailboxId);
      return this.ok(tag, 'logged in', `CAPABILITY ${this.capabilities()}`);
    }
    if (outcome.reason === 'unavailable') {
      this.io.event(EVENTS.authUnavailable, {});
      return this.no(tag, 'authentication is unavailable, try again later', 'UNAVAILABLE');
    }
    this.authFailures++;
    this.io.event(EVENTS.authFailed, { user, reason: outcome.reason });
    await this.io.delay(this.options.authFailureDelayMs * this.authFailures);
    await this.no(tag, 'invalid credentials', 'AUTHENTICATIONFAILED');
    if (this.authFailures >= this.options.maxAuthFailures) {
      this.io.event(EVENTS.sessionTooManyFailures);
      await this.send('* BYE too many failed logins\r\n');
      this.closed = true;
    }
  }

  // --- authenticated (RFC 9051 §6.3) ---

  /** RFC 5161 */
  async enable(c: Command): Promise<void> {
    const enabled: string[] = [];
    for (const t of c.args) {
      const cap = (astring(t) ?? '').toUpperCase();
      if (cap === 'IMAP4REV2' && !this.rev2) {
        this.rev2 = this.utf8 = true;
        enabled.push('IMAP4rev2');
      } else if (cap === 'UTF8=ACCEPT' && !this.utf8) {
        this.utf8 = true;
        enabled.push('UTF8=ACCEPT');
      } else if (cap === 'CONDSTORE' && !this.condstore) {
        this.condstore = true;
        enabled.push('CONDSTORE');
      } else if (cap === 'QRESYNC' && !this.qresync) {
        // RFC 7162 §3.2.3: enabling QRESYNC enables CONDSTORE too.
        this.qresync = this.condstore = true;
        enabled.push('QRESYNC');
      }
    }
    await this.send(`* ENABLED${enabled.map((e) => ` ${e}`).join('')}\r\n`);
    await this.ok(c.tag, 'ENABLE completed');
  }

  /** RFC 2342 */
  async namespace(c: Command): Promise<void> {
    await this.send('* NAMESPACE (("" "/")) NIL NIL\r\n');
    await this.ok(c.tag, 'NAMESPACE completed');
  }

  /** A mailbox name argument, decoded (modified UTF-7 unless UTF-8 was enabled) and checked. */
  private mailboxArg(t: Token | undefined): string {
    const raw = astring(t);
    if (raw === null) throw new ParseError('missing mailbox name');
    const decoded = this.utf8 ? raw : decodeMutf7(raw);
    if (decoded === null) throw new ParseError('mailbox name is not valid modified UTF-7');
    return normalizeInbox(decoded);
  }

  private async selectCmd(c: Command, readOnly: boolean): Promise<void> {
    const name = this.mailboxArg(c.args[0]);
    let condstore = false;
    let qresync: { uidValidity: number; modseq: number; known: Range[] | null } | null = null;
    if (c.args[1]?.t === 'list') {
      const params = c.args[1].v;
      for (let i = 0; i < params.length; i++) {
        const p = astring(params[i])?.toUpperCase();
        if (p === 'CONDSTORE') condstore = true;
        else if (p === 'QRESYNC') {
          // RFC 7162 §3.2.5: QRESYNC (uidvalidity modseq [known-uids [seq-match]])
          if (!this.qresync) throw new ParseError('QRESYNC must be enabled first');
          const q = params[++i];
          if (q?.t !== 'list') throw new ParseError('QRESYNC needs a list');
          const [v, m, k] = q.v.map((t) => astring(t));
          const uidValidity = Number(v);
          const modseq = Number(m);
          if (!Number.isSafeInteger(uidValidity) || !Number.isSafeInteger(modseq) || uidValidity < 1) throw new ParseError('bad QRESYNC parameters');
          const known = k ? parseSequenceSet(k, 4294967295) : null;
          if (k && !known) throw new ParseError('bad known-uids');
          qresync = { uidValidity, modseq, known };
        } else throw new ParseError('unknown SELECT parameter');
      }
    }
    if (this.sel) {
      this.sel = null;
      if (this.rev2 || this.condstore) await this.send('* OK [CLOSED] previous mailbox closed\r\n');
    }
    this.state = 'authenticated';
    const folder = await this.store.folder(this.user!.mailboxId, name);
    if (!folder) return this.no(c.tag, 'no such mailbox', 'NONEXISTENT');
    if (condstore) this.condstore = true;
    const uids = await this.store.uids(folder.id);
    this.sel = { folder, readOnly, uids, modseq: folder.highestModseq, uidNext: folder.uidNext };
    this.state = 'selected';
    this.dirty = false;
    const flags = SYSTEM_FLAGS.join(' ');
    await this.send(`* ${uids.length} EXISTS\r\n`);
    if (!this.rev2) await this.send('* 0 RECENT\r\n');
    await this.send(`* FLAGS (${flags})\r\n`);
    await this.send(`* OK [PERMANENTFLAGS (${readOnly ? '' : `${flags} \\*`})] flags\r\n`);
    await this.send(`* OK [UIDVALIDITY ${folder.uidValidity}] UIDs valid\r\n`);
    await this.send(`* OK [UIDNEXT ${folder.uidNext}] predicted next UID\r\n`);
    await this.send(`* OK [HIGHESTMODSEQ ${folder.highestModseq}] highest\r\n`);
    if (this.rev2) await this.send('* LIST () "/" ', mailboxName(folder.name, true), '\r\n');
    if (qresync && qresync.uidValidity === folder.uidValidity) {
      // RFC 7162 §3.2.5.1: what vanished and what changed since the client's MODSEQ.
      const ch = await this.store.changesSince(folder.id, qresync.modseq);
      const gone = ch.expunged.filter((u) => !qresync.known || inRanges(u, qresync.known));
      if (gone.length > 0) await this.send(`* VANISHED (EARLIER) ${formatSet(gone)}\r\n`);
      for (const m of ch.changed) {
        const seq = seqOfUid(uids, m.uid);
        if (seq) await this.send(`* ${seq} FETCH (UID ${m.uid} FLAGS (${m.flags.join(' ')}) MODSEQ (${m.modseq}))\r\n`);
      }
    }
    await this.ok(c.tag, `${c.name} completed`, readOnly ? 'READ-ONLY' : 'READ-WRITE');
  }

  /** RFC 9051 §6.3.2 */
  async select(c: Command): Promise<void> {
    await this.selectCmd(c, false);
  }

  /** RFC 9051 §6.3.3 */
  async examine(c: Command): Promise<void> {
    await this.selectCmd(c, true);
  }

  /** RFC 9051 §6.3.4 */
  async create(c: Command): Promise<void> {
    const name = this.mailboxArg(c.args[0]).replace(/\/$/, '');
    const problem = validateMailboxName(name);
    if (problem) return this.no(c.tag, problem, 'CANNOT');
    if (name === 'INBOX') return this.no(c.tag, 'INBOX exists', 'ALREADYEXISTS');
    const r = await this.store.createFolder(this.user!.mailboxId, name);
    if (r === 'exists') return this.no(c.tag, 'mailbox exists', 'ALREADYEXISTS');
    await this.ok(c.tag, 'CREATE completed');
  }

  /** RFC 9051 §6.3.5 */
  async delete(c: Command): Promise<void> {
    const name = this.mailboxArg(c.args[0]);
    if (name === 'INBOX') return this.no(c.tag, 'INBOX cannot be deleted', 'CANNOT');
    if (this.sel?.folder.name === name) {
      this.sel = null;
      this.state = 'authenticated';
    }
    const r = await this.store.deleteFolder(this.user!.mailboxId, name);
    if (r === 'nonexistent') return this.no(c.tag, 'no such mailbox', 'NONEXISTENT');
    await this.ok(c.tag, 'DELETE completed');
  }

  /** RFC 9051 §6.3.6 */
  async rename(c: Command): Promise<void> {
    const from = this.mailboxArg(c.args[0]);
    const to = this.mailboxArg(c.args[1]);
    const problem = validateMailboxName(to);
    if (problem) return this.no(c.tag, problem, 'CANNOT');
    if (to === 'INBOX' || to.startsWith('INBOX/') && from !== 'INBOX') return this.no(c.tag, 'cannot rename to INBOX', 'CANNOT');
    const r = await this.store.renameFolder(this.user!.mailboxId, from, to);
    if (r === 'nonexistent') return this.no(c.tag, 'no such mailbox', 'NONEXISTENT');
    if (r === 'exists') return this.no(c.tag, 'target exists', 'ALREADYEXISTS');
    await this.ok(c.tag, 'RENAME completed');
  }

  /** RFC 9051 §6.3.7, §6.3.8 */
  async subscribe(c: Command): Promise<void> {
    const name = this.mailboxArg(c.args[0]);
    const ok = await this.store.subscribe(this.user!.mailboxId, name, c.name === 'SUBSCRIBE');
    if (!ok) return this.no(c.tag, 'no such mailbox', 'NONEXISTENT');
    await this.ok(c.tag, `${c.name} completed`);
  }

  /** RFC 9051 §6.3.9 with LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC 6154), LIST-STATUS (RFC 5819) */
  async list(c: Command): Promise<void> {
    const args = [...c.args];
    const selection = new Set<string>();
    if (args[0]?.t === 'list') for (const t of args.shift()!.v as Token[]) selection.add((astring(t) ?? '').toUpperCase());
    const ref = astring(args.shift());
    const patTok = args.shift();
    if (ref === null || !patTok) throw new ParseError('LIST reference pattern');
    const patterns = patTok.t === 'list' ? patTok.v.map((t) => astring(t) ?? '') : [astring(patTok) ?? ''];
    const ret = new Set<string>();
    let statusItems: string[] = [];
    if (args[0]?.t === 'atom' && args[0].v.toUpperCase() === 'RETURN') {
      const l = args[1];
      if (l?.t !== 'list') throw new ParseError('RETURN needs a list');
      for (let i = 0; i < l.v.length; i++) {
        const opt = (astring(l.v[i]) ?? '').toUpperCase();
        ret.add(opt);
        if (opt === 'STATUS') {
          const s = l.v[++i];
          if (s?.t !== 'list') throw new ParseError('STATUS needs a list');
          statusItems = s.v.map((t) => (astring(t) ?? '').toUpperCase());
        }
      }
    }
    const lsub = c.name === 'LSUB';
    if (patterns.length === 1 && patterns[0] === '' && !lsub) {
      await this.send('* LIST (\\Noselect) "/" ""\r\n');
      return this.ok(c.tag, 'LIST completed');
    }
    const folders = await this.store.folders(this.user!.mailboxId);
    const names = new Set(folders.map((f) => f.name));
    const decode = (p: string) => (this.utf8 ? p : (decodeMutf7(p) ?? p));
    const full = patterns.map((p) => decode(ref) + decode(p));
    const subscribedOnly = lsub || selection.has('SUBSCRIBED');
    for (const f of folders) {
      if (!full.some((p) => matchPattern(p, f.name))) continue;
      if (subscribedOnly && !f.subscribed) continue;
      if (selection.has('SPECIAL-USE') && !f.specialUse) continue;
      const attrs: string[] = [];
      const hasChildren = [...names].some((n) => n.startsWith(f.name + '/'));
      attrs.push(hasChildren ? '\\HasChildren' : '\\HasNoChildren');
      if (f.specialUse && (!lsub || true)) attrs.push(f.specialUse);
      if ((ret.has('SUBSCRIBED') || selection.has('SUBSCRIBED')) && f.subscribed) attrs.push('\\Subscribed');
      await this.send(`* ${lsub ? 'LSUB' : 'LIST'} (${attrs.join(' ')}) "/" `, mailboxName(f.name, this.utf8), '\r\n');
      if (statusItems.length > 0) await this.sendStatus(f, statusItems);
    }
    await this.ok(c.tag, `${c.name} completed`);
  }

  private async sendStatus(f: Folder, items: string[]): Promise<void> {
    const needCounts = items.some((i) => ['MESSAGES', 'UNSEEN', 'DELETED', 'SIZE'].includes(i));
    const s = needCounts ? await this.store.status(f.id) : { messages: 0, unseen: 0, deleted: 0, size: 0 };
    const out: string[] = [];
    for (const i of items) {
      switch (i) {
        case 'MESSAGES': out.push(`MESSAGES ${s.messages}`); break;
        case 'UIDNEXT': out.push(`UIDNEXT ${f.uidNext}`); break;
        case 'UIDVALIDITY': out.push(`UIDVALIDITY ${f.uidValidity}`); break;
        case 'UNSEEN': out.push(`UNSEEN ${s.unseen}`); break;
        case 'DELETED': out.push(`DELETED ${s.deleted}`); break;
        case 'SIZE': out.push(`SIZE ${s.size}`); break;
        case 'RECENT': out.push('RECENT 0'); break;
        case 'HIGHESTMODSEQ': out.push(`HIGHESTMODSEQ ${f.highestModseq}`); break;
        default: throw new ParseError(`unknown STATUS item ${i.slice(0, 30)}`);
      }
    }
    await this.send('* STATUS ', mailboxName(f.name, this.utf8), ` (${out.join(' ')})\r\n`);
  }

  /** RFC 9051 §6.3.11 */
  async status(c: Command): Promise<void> {
    const name = this.mailboxArg(c.args[0]);
    const l = c.args[1];
    if (l?.t !== 'list' || l.v.length === 0) throw new ParseError('STATUS mailbox (items)');
    const items = l.v.map((t) => (astring(t) ?? '').toUpperCase());
    const f = await this.store.folder(this.user!.mailboxId, name);
    if (!f) return this.no(c.tag, 'no such mailbox', 'NONEXISTENT');
    await this.sendStatus(f, items);
    await this.ok(c.tag, 'STATUS completed');
  }

  /** RFC 9051 §6.3.12, MULTIAPPEND (RFC 3502), LITERAL+ (RFC 7888) */
  async append(c: Command): Promise<void> {
    const name = this.mailboxArg(c.args[0]);
    const f = await this.store.folder(this.user!.mailboxId, name);
    const messages: { raw: Buffer; flags: string[]; date: Date | null }[] = [];
    let i = 1;
    while (i < c.args.length) {
      let flags: string[] = [];
      let date: Date | null = null;
      const a = c.args[i];
      if (a?.t === 'list') {
        flags = this.flagList(a.v);
        i++;
      }
      const d = c.args[i];
      // A date-time is a string followed by the message's literal (also a string).
      if (d?.t === 'string' && c.args[i + 1]?.t === 'string') {
        date = parseDateTime(d.v.toString('latin1'));
        i++;
      }
      const lit = c.args[i++];
      if (lit?.t !== 'string') throw new ParseError('APPEND needs a message literal');
      if (lit.v.length > this.options.maxMessageOctets) return this.no(c.tag, 'message too big', 'TOOBIG');
      if (lit.v.includes(0)) return this.no(c.tag, 'NUL octets are not accepted', 'CANNOT');
      messages.push({ raw: lit.v, flags, date });
    }
    if (messages.length === 0) throw new ParseError('APPEND needs a message');
    if (!f) return this.no(c.tag, 'no such mailbox', 'TRYCREATE');
    const uids = await this.store.append(this.user!.mailboxId, this.user!.address, f.id, messages);
    if (this.sel?.folder.id === f.id) await this.sendUpdates(false);
    await this.ok(c.tag, 'APPEND completed', `APPENDUID ${f.uidValidity} ${formatSet(uids)}`);
  }

  /** RFC 2177 */
  async idle(c: Command): Promise<void> {
    this.mode = 'idle';
    this.pendingTag = c.tag;
    await this.send('+ idling\r\n');
    await this.sendUpdates(true);
  }

  /** RFC 9208 */
  async getquotaroot(c: Command): Promise<void> {
    const name = this.mailboxArg(c.args[0]);
    const f = await this.store.folder(this.user!.mailboxId, name);
    if (!f) return this.no(c.tag, 'no such mailbox', 'NONEXISTENT');
    await this.send('* QUOTAROOT ', mailboxName(f.name, this.utf8), ' ""\r\n');
    await this.sendQuota();
    await this.ok(c.tag, 'GETQUOTAROOT completed');
  }

  async getquota(c: Command): Promise<void> {
    if (astring(c.args[0]) !== '') return this.no(c.tag, 'no such quota root', 'NONEXISTENT');
    await this.sendQuota();
    await this.ok(c.tag, 'GETQUOTA completed');
  }

  private async sendQuota(): Promise<void> {
    const q = await this.store.quota(this.user!.mailboxId);
    const parts = [];
    if (q.limitBytes !== null) parts.push(`STORAGE ${Math.ceil(q.usedBytes / 1024)} ${Math.floor(q.limitBytes / 1024)}`);
    await this.send(`* QUOTA "" (${parts.join(' ')})\r\n`);
  }

  async setquota(c: Command): Promise<void> {
    await this.no(c.tag, 'quotas are set by the administrator', 'NOPERM');
  }

  // --- selected (RFC 9051 §6.4) ---

  /** RFC 9051 §6.4.1 CLOSE and RFC 3691 UNSELECT */
  async close(c: Command): Promise<void> {
    const sel = this.sel!;
    if (c.name === 'CLOSE' && !sel.readOnly) {
      const deleted = await this.store.search(sel.folder.id, { k: 'flag', flag: '\\Deleted', set: true });
      if (deleted.length > 0) await this.store.expunge(sel.folder.id, deleted);
    }
    this.sel = null;
    this.state = 'authenticated';
    await this.ok(c.tag, `${c.name} completed`);
  }

  /** RFC 9051 §6.4.3 and UID EXPUNGE (RFC 4315) */
  async expunge(c: Command): Promise<void> {
    const sel = this.sel!;
    if (sel.readOnly) return this.no(c.tag, 'mailbox is read-only', 'READ-ONLY');
    let candidates = await this.store.search(sel.folder.id, { k: 'flag', flag: '\\Deleted', set: true });
    if (c.uid) {
      const r = this.setArg(c.args[0], true);
      candidates = candidates.filter((u) => inRanges(u, r));
    }
    if (candidates.length > 0) await this.store.expunge(sel.folder.id, candidates);
    await this.sendUpdates(true);
    await this.ok(c.tag, `${c.uid ? 'UID ' : ''}EXPUNGE completed`);
  }

  /** UID or sequence ranges of a set argument, resolved against the session's view. */
  private setArg(t: Token | undefined, uid: boolean): Range[] {
    const s = t?.t === 'atom' ? t.v : null;
    const sel = this.sel!;
    const star = uid ? (sel.uids.at(-1) ?? 0) : sel.uids.length;
    const r = s ? parseSequenceSet(s, star) : null;
    if (!r) throw new ParseError('bad sequence set');
    return r;
  }

  /** [seq, uid] pairs of the session's view that a set names. */
  private resolve(ranges: Range[], uid: boolean): [number, number][] {
    const uids = this.sel!.uids;
    const out: [number, number][] = [];
    if (uid) {
      for (let i = 0; i < uids.length; i++) if (inRanges(uids[i]!, ranges)) out.push([i + 1, uids[i]!]);
    } else {
      for (const [a, b] of ranges) {
        if (b > uids.length || a < 1) return [];
      }
      for (let i = 0; i < uids.length; i++) if (inRanges(i + 1, ranges)) out.push([i + 1, uids[i]!]);
    }
    return out;
  }

  /** RFC 9051 §6.4.5 */
  async fetch(c: Command): Promise<void> {
    const sel = this.sel!;
    const ranges = this.setArg(c.args[0], c.uid);
    if (!c.uid && ranges.some(([, b]) => b > sel.uids.length)) return this.bad(c.tag, 'no such message');
    const items = parseFetchItems(c.args[1]);
    let changedSince: number | null = null;
    let vanished = false;
    if (c.args[2]?.t === 'list') {
      const mods = c.args[2].v;
      for (let i = 0; i < mods.length; i++) {
        const m = (astring(mods[i]) ?? '').toUpperCase();
        if (m === 'CHANGEDSINCE') {
          changedSince = Number(astring(mods[++i]) ?? 'x');
          if (!Number.isSafeInteger(changedSince)) throw new ParseError('bad CHANGEDSINCE');
          this.condstore = true;
        } else if (m === 'VANISHED') {
          if (!this.qresync || !c.uid) throw new ParseError('VANISHED needs QRESYNC and UID FETCH');
          vanished = true;
        } else throw new ParseError('unknown FETCH modifier');
      }
      if (vanished && changedSince === null) throw new ParseError('VANISHED needs CHANGEDSINCE');
    }
    if (vanished) {
      // RFC 7162 §3.2.6: UIDs in the set expunged since CHANGEDSINCE.
      const ch = await this.store.changesSince(sel.folder.id, changedSince!);
      const gone = ch.expunged.filter((u) => inRanges(u, ranges));
      if (gone.length > 0) await this.send(`* VANISHED (EARLIER) ${formatSet(gone)}\r\n`);
    }
    if (c.uid) items.uid = true;
    if (this.condstore && changedSince !== null) items.modseq = true;
    const pairs = this.resolve(ranges, c.uid);
    const setSeen = !sel.readOnly && items.sections.some((s) => !s.peek);
    const whole = streamable(items);
    // Metadata only, or the whole message: answered from the batch without a read per message.
    const direct = whole || !(items.envelope || items.bodystructure || items.body || items.sections.length > 0);
    const load = (batch: [number, number][]) => this.fetchBatch(sel.folder.id, batch, setSeen, whole);
    const out = new Slab(this.io);
    // The next `fetchReadAhead` batches are read while this one is written: PostgreSQL (on as
    // many pooled connections, so on more than one core) and the socket work side by side, and
    // memory stays within that many batches and one (the write awaits a client that stops
    // reading, and nothing more is asked for until it does). With one batch ahead a FETCH went
    // at the pace of PostgreSQL's batches, one after the other.
    const ahead: Promise<FetchBatch>[] = [];
    let asked = 0;
    const askMore = () => {
      while (ahead.length < this.options.fetchReadAhead && asked < pairs.length) {
        const p = load(pairs.slice(asked, asked + this.options.batchSize));
        p.catch(() => {}); // awaited (and so reported) in its turn, unless one before it fails first
        ahead.push(p);
        asked += this.options.batchSize;
      }
    };
    askMore();
    for (let next = ahead.shift(); next; next = ahead.shift()) {
      const { batch, rows, modseq } = await next;
      askMore();
      if (modseq > 0) {
        sel.modseq = Math.max(sel.modseq, modseq);
        items.flags = true;
      }
      for (let i = 0, j = 0; i < batch.length; i++) {
        const [seq, uid] = batch[i]!;
        // rows are in UID order, as the batch is (resolve() gives ascending sequence numbers).
        while (j < rows.length && rows[j]!.meta.uid < uid) j++;
        const row = rows[j];
        if (!row || row.meta.uid !== uid) continue; // expunged by another session since; the EXPUNGE comes later
        j++;
        const { meta: m, raw } = row;
        if (changedSince !== null && m.modseq <= changedSince) continue;
        if (!direct) {
          await out.flush();
          await this.send(...(await this.fetchResponse(seq, m, items)));
        } else if (!whole) {
          const wrote = out.put(`* ${seq} FETCH (${metaItems(m, items)})\r\n`);
          if (wrote) await wrote;
        } else if (raw) {
          const head = metaItems(m, items);
          const wrote = out.put(`* ${seq} FETCH (${head}${head ? ' ' : ''}${items.sections[0]!.legacy ?? 'BODY[]'} {${raw.length}}\r\n`, raw);
          if (wrote) await wrote;
        } else {
          await out.flush();
          await this.streamResponse(seq, m, items);
        }
      }
    }
    await out.flush();
    await this.ok(c.tag, `${c.uid ? 'UID ' : ''}FETCH completed`);
  }

  /**
   * One FETCH batch in one round trip, \Seen set where asked, and with `whole` the batch's small
   * messages: at most batch × SMALL_MESSAGE_BYTES in memory; larger ones stream chunk by chunk.
   */
  private async fetchBatch(folderId: string, batch: [number, number][], setSeen: boolean, whole: boolean): Promise<FetchBatch> {
    const { modseq, rows } = await this.store.fetchBatch(
      folderId,
      batch.map(([, u]) => u),
      { seen: setSeen, maxBytes: whole ? SMALL_MESSAGE_BYTES : 0 },
    );
    return { batch, rows, modseq };
  }

  /**
   * The whole message as the last item, streamed from PostgreSQL chunk by chunk with every
   * write awaited: a client that stops reading stops the reads, and memory stays one chunk.
   */
  private async streamResponse(seq: number, m: MessageMeta, items: FetchItems): Promise<void> {
    const stream = await this.store.rawStream(m.messageId);
    const head = metaItems(m, items);
    const text = `* ${seq} FETCH (${head}${head ? ' ' : ''}${items.sections[0]!.legacy ?? 'BODY[]'}`;
    if (!stream) return this.send(`${text} NIL)\r\n`);
    await this.send(`${text} {${stream.size}}\r\n`);
    for await (const chunk of stream.chunks) await this.io.write(chunk);
    await this.send(')\r\n');
  }

  private async fetchResponse(seq: number, m: MessageMeta, items: FetchItems): Promise<Piece[]> {
    const out: Piece[][] = [];
    const head = metaItems(m, items);
    if (head) out.push([head]);
    if (items.envelope || items.bodystructure || items.body || items.sections.length > 0) {
      const raw = (await this.store.raw(m.messageId)) ?? Buffer.alloc(0);
      if (items.envelope) out.push(['ENVELOPE ', ...envelope(raw.subarray(0, headerEnd(raw)), this.utf8)]);
      if (items.bodystructure || items.body) {
        const tree = parseMessage(raw);
        if (items.bodystructure) out.push(['BODYSTRUCTURE ', ...bodyStructure(tree, true, this.utf8)]);
        if (items.body) out.push(['BODY ', ...bodyStructure(tree, false, this.utf8)]);
      }
      for (const s of items.sections) {
        const data = sectionData(raw, s);
        const name = s.binary ? (s.size ? 'BINARY.SIZE' : 'BINARY') : s.legacy ?? 'BODY';
        if (s.size) {
          out.push([`BINARY.SIZE[${s.spec}] ${data?.length ?? 0}`]);
          continue;
        }
        let slice = data;
        if (slice && s.partial) slice = slice.subarray(Math.min(s.partial[0], slice.length), Math.min(s.partial[0] + s.partial[1], slice.length));
        const label = s.legacy ? s.legacy : `${name}[${s.spec}]${s.partial ? `<${s.partial[0]}>` : ''}`;
        out.push([`${label} `, slice === null ? 'NIL' : literal(slice)]);
      }
    }
    return [`* ${seq} FETCH `, ...list(out), '\r\n'];
  }

  /** RFC 9051 §6.4.6, CONDSTORE UNCHANGEDSINCE (RFC 7162 §3.1.3) */
  async storeCmd(c: Command): Promise<void> {
    const sel = this.sel!;
    if (sel.readOnly) return this.no(c.tag, 'mailbox is read-only', 'READ-ONLY');
    const ranges = this.setArg(c.args[0], c.uid);
    let i = 1;
    let unchangedSince: number | null = null;
    if (c.args[i]?.t === 'list') {
      const mods = (c.args[i] as { v: Token[] }).v;
      if ((astring(mods[0]) ?? '').toUpperCase() !== 'UNCHANGEDSINCE') throw new ParseError('unknown STORE modifier');
      unchangedSince = Number(astring(mods[1]) ?? 'x');
      if (!Number.isSafeInteger(unchangedSince)) throw new ParseError('bad UNCHANGEDSINCE');
      this.condstore = true;
      i++;
    }
    const op = (astring(c.args[i++]) ?? '').toUpperCase();
    const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(op);
    if (!m) throw new ParseError('STORE needs FLAGS, +FLAGS or -FLAGS');
    const rest = c.args.slice(i);
    const flags = this.flagList(rest.length === 1 && rest[0]!.t === 'list' ? rest[0]!.v : rest);
    const mode: StoreMode = m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set';
    const pairs = this.resolve(ranges, c.uid);
    const seqOf = new Map(pairs.map(([s, u]) => [u, s]));
    const failed: number[] = [];
    for (let off = 0; off < pairs.length; off += this.options.batchSize) {
      const batch = pairs.slice(off, off + this.options.batchSize);
      const r = await this.store.storeFlags(sel.folder.id, batch.map(([, u]) => u), mode, flags, unchangedSince);
      failed.push(...r.failed);
      for (const msg of r.changed) {
        sel.modseq = Math.max(sel.modseq, msg.modseq);
        if (m[2] && unchangedSince === null) continue;
        const parts = [c.uid ? `UID ${msg.uid} ` : '', `FLAGS (${msg.flags.join(' ')})`, this.condstore ? ` MODSEQ (${msg.modseq})` : ''];
        await this.send(`* ${seqOf.get(msg.uid)} FETCH (${parts.join('')})\r\n`);
      }
    }
    const code = failed.length > 0 ? `MODIFIED ${formatSet(c.uid ? failed : failed.map((u) => seqOf.get(u)!))}` : undefined;
    await this.ok(c.tag, `${c.uid ? 'UID ' : ''}STORE completed`, code);
  }

  private flagList(tokens: Token[]): string[] {
    const out: string[] = [];
    for (const t of tokens) {
      const f = t.t === 'atom' ? t.v : null;
      if (!f || !ATOM_FLAG.test(f)) throw new ParseError('bad flag');
      if (f.startsWith('\\')) {
        const sys = SYSTEM_BY_LOWER.get(f.toLowerCase());
        if (!sys) throw new ParseError(`unknown system flag ${f}`);
        out.push(sys);
      } else out.push(f);
    }
    if (out.length > 100) throw new ParseError('too many flags');
    return [...new Set(out)];
  }

  /** RFC 9051 §6.4.4, ESEARCH (RFC 4731) */
  /** The UIDs the search finds that are in the session's view (SEARCH, SORT, THREAD), ascending. */
  private async searchInView(sel: Selected, key: SearchKey): Promise<number[]> {
    return (await this.store.search(sel.folder.id, key)).filter((u) => seqOfUid(sel.uids, u) > 0);
  }

  async search(c: Command): Promise<void> {
    const sel = this.sel!;
    const parsed = parseSearch(c.args, { uids: sel.uids, maxUid: sel.uids.at(-1) ?? 0 });
    const uids = await this.searchInView(sel, parsed.key);
    const nums = c.uid ? uids : uids.map((u) => seqOfUid(sel.uids, u));
    if (parsed.ret) {
      const parts: string[] = [];
      for (const r of parsed.ret) {
        if (r === 'MIN' && nums.length) parts.push(`MIN ${Math.min(...nums.slice(0, 1))}`);
        if (r === 'MAX' && nums.length) parts.push(`MAX ${nums[nums.length - 1]}`);
        if (r === 'ALL' && nums.length) parts.push(`ALL ${formatSet(nums)}`);
        if (r === 'COUNT') parts.push(`COUNT ${nums.length}`);
      }
      await this.send(`* ESEARCH (TAG ${quoted(c.tag)})${c.uid ? ' UID' : ''}${parts.map((p) => ` ${p}`).join('')}\r\n`);
    } else {
      await this.send(`* SEARCH${nums.map((n) => ` ${n}`).join('')}\r\n`);
    }
    await this.ok(c.tag, `${c.uid ? 'UID ' : ''}SEARCH completed`);
  }

  /** RFC 5256 §3 SORT (sort-criteria) charset search-key… */
  async sort(c: Command): Promise<void> {
    const sel = this.sel!;
    const [crit, charset, ...rest] = c.args;
    if (crit?.t !== 'list' || crit.v.length === 0) throw new ParseError('SORT needs (criteria)');
    const criteria: SortCriterion[] = [];
    let reverse = false;
    for (const t of crit.v) {
      const k = (astring(t) ?? '').toUpperCase();
      if (k === 'REVERSE') {
        reverse = true;
        continue;
      }
      if (!SORT_KEYS.has(k as SortKey)) throw new ParseError(`unknown sort key ${k.slice(0, 20)}`);
      criteria.push({ key: k as SortKey, reverse });
      reverse = false;
    }
    if (reverse || criteria.length === 0) throw new ParseError('REVERSE needs a sort key');
    const cs = (astring(charset) ?? '').toUpperCase();
    if (cs !== 'UTF-8' && cs !== 'US-ASCII') throw new BadCharset();
    const parsed = parseSearch(rest, { uids: sel.uids, maxUid: sel.uids.at(-1) ?? 0 });
    const found = await this.searchInView(sel, parsed.key);
    const items = found.length > 0 ? await this.store.headers(sel.folder.id, found) : [];
    const sorted = sortItems(items, criteria);
    const nums = c.uid ? sorted : sorted.map((u) => seqOfUid(sel.uids, u));
    await this.send(`* SORT${nums.map((n) => ` ${n}`).join('')}\r\n`);
    await this.ok(c.tag, `${c.uid ? 'UID ' : ''}SORT completed`);
  }

  /** RFC 5256 §3 THREAD algorithm charset search-key… (ORDEREDSUBJECT, REFERENCES) */
  async thread(c: Command): Promise<void> {
    const sel = this.sel!;
    const [alg, charset, ...rest] = c.args;
    if (!charset) throw new ParseError('THREAD needs an algorithm, a charset and search keys');
    const algorithm = (astring(alg) ?? '').toUpperCase();
    if (algorithm !== 'ORDEREDSUBJECT' && algorithm !== 'REFERENCES') return this.no(c.tag, 'THREAD=ORDEREDSUBJECT and THREAD=REFERENCES are supported', 'CANNOT');
    const cs = (astring(charset) ?? '').toUpperCase();
    if (cs !== 'UTF-8' && cs !== 'US-ASCII') throw new BadCharset();
    const parsed = parseSearch(rest, { uids: sel.uids, maxUid: sel.uids.at(-1) ?? 0 });
    const found = await this.searchInView(sel, parsed.key);
    const items = found.length > 0 ? await this.store.headers(sel.folder.id, found) : [];
    const num = (u: number) => (c.uid ? u : seqOfUid(sel.uids, u));
    const text = algorithm === 'REFERENCES' ? referencesThreads(items, num) : orderedSubjectThreads(items, num);
    await this.send(`* THREAD${text ? ` ${text}` : ''}\r\n`);
    await this.ok(c.tag, `${c.uid ? 'UID ' : ''}THREAD completed`);
  }

  /** RFC 9051 §6.4.7 COPY and §6.4.8 MOVE (RFC 6851), COPYUID (RFC 4315) */
  async copy(c: Command): Promise<void> {
    const sel = this.sel!;
    const move = c.name === 'MOVE';
    if (move && sel.readOnly) return this.no(c.tag, 'mailbox is read-only', 'READ-ONLY');
    const ranges = this.setArg(c.args[0], c.uid);
    const name = this.mailboxArg(c.args[1]);
    const dest = await this.store.folder(this.user!.mailboxId, name);
    if (!dest) return this.no(c.tag, 'no such mailbox', 'TRYCREATE');
    const pairs = this.resolve(ranges, c.uid);
    if (!c.uid && ranges.some(([, b]) => b > sel.uids.length)) return this.bad(c.tag, 'no such message');
    const r = await this.store.copy(this.user!.mailboxId, sel.folder.id, pairs.map(([, u]) => u), dest.id, move);
    const code = r.src.length > 0 ? `COPYUID ${dest.uidValidity} ${formatSet(r.src)} ${formatSet(r.dst)}` : undefined;
    if (move) {
      if (code) await this.send(`* OK [${code}] moved\r\n`);
      await this.sendUpdates(true);
      return this.ok(c.tag, `${c.uid ? 'UID ' : ''}MOVE completed`);
    }
    if (dest.id === sel.folder.id) await this.sendUpdates(false);
    await this.ok(c.tag, `${c.uid ? 'UID ' : ''}COPY completed`, code);
  }

  /**
   * Tells the client what changed since it last heard: expunges (only when `expunges`, since
   * RFC 9051 §7.5.1 forbids EXPUNGE during FETCH, STORE and SEARCH), new messages and flags.
   */
  private async sendUpdates(expunges: boolean, wake?: string): Promise<void> {
    const sel = this.sel;
    if (!sel) return;
    this.dirty = false;
    // Shared by the sessions the same notification woke: read-only here.
    const ch = await this.store.changesSince(sel.folder.id, sel.modseq, wake);
    if (expunges && ch.expunged.length > 0 && this.qresync) {
      // RFC 7162 §3.2.10: QRESYNC clients get VANISHED instead of EXPUNGE.
      const gone = new Set(ch.expunged);
      const seen = sel.uids.filter((u) => gone.has(u));
      if (seen.length > 0) {
        sel.uids = sel.uids.filter((u) => !gone.has(u));
        await this.send(`* VANISHED ${formatSet(seen)}\r\n`);
      }
    } else if (expunges && ch.expunged.length > 0) {
      const gone = new Set(ch.expunged);
      for (let i = sel.uids.length - 1; i >= 0; i--) {
        if (gone.has(sel.uids[i]!)) {
          await this.send(`* ${i + 1} EXPUNGE\r\n`);
          sel.uids.splice(i, 1);
        }
      }
    }
    const known = sel.uids.at(-1) ?? 0;
    const added = ch.changed.filter((m) => m.uid > known).map((m) => m.uid).sort((a, b) => a - b);
    if (added.length > 0) {
      sel.uids.push(...added);
      await this.send(`* ${sel.uids.length} EXISTS\r\n`);
    }
    const flagged = ch.changed.filter((m) => m.uid <= known);
    for (const m of flagged) {
      const seq = seqOfUid(sel.uids, m.uid);
      if (!seq) continue;
      await this.send(`* ${seq} FETCH (UID ${m.uid} FLAGS (${m.flags.join(' ')})${this.condstore ? ` MODSEQ (${m.modseq})` : ''})\r\n`);
    }
    // Expunges held back stay pending: keep the MODSEQ below them so they come next time.
    if (expunges || ch.expunged.length === 0) sel.modseq = ch.highestModseq;
    else this.dirty = true;
  }

  get hasPendingChanges(): boolean {
    return this.dirty;
  }
}

function normalizeInbox(name: string): string {
  if (name.toUpperCase() === 'INBOX') return 'INBOX';
  if (name.toUpperCase().startsWith('INBOX/')) return 'INBOX' + name.slice(5);
  return name;
}

// --- FETCH items (RFC 9051 §6.4.5) ---

interface Section {
  /** Text between the brackets, as echoed back. */
  spec: string;
  path: number[];
  part: '' | 'HEADER' | 'TEXT' | 'MIME' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT';
  fields: string[];
  peek: boolean;
  binary: boolean;
  size: boolean;
  partial: [number, number] | null;
  /** RFC822, RFC822.HEADER, RFC822.TEXT: the item name to answer with. */
  legacy?: string;
}

interface FetchItems {
  uid: boolean;
  flags: boolean;
  internaldate: boolean;
  size: boolean;
  envelope: boolean;
  bodystructure: boolean;
  body: boolean;
  modseq: boolean;
  sections: Section[];
}

/** Only the whole message is asked for (plus metadata): it can be streamed. */
/** Messages up to this size are read for a whole FETCH batch at once (FETCH BODY[] of everyday mail). */
const SMALL_MESSAGE_BYTES = 16_384;

interface FetchBatch extends FetchRows {
  /** [sequence number, UID] pairs asked for. */
  batch: [number, number][];
}

/** The metadata items of a FETCH response (RFC 9051 §7.5.2), in the order fetchResponse gives them. */
function metaItems(m: MessageMeta, items: FetchItems): string {
  let s = items.uid ? `UID ${m.uid}` : '';
  if (items.flags) s += `${s ? ' ' : ''}FLAGS (${m.flags.join(' ')})`;
  if (items.modseq) s += `${s ? ' ' : ''}MODSEQ (${m.modseq})`;
  if (items.internaldate) s += `${s ? ' ' : ''}INTERNALDATE "${formatDateTime(m.internalDate)}"`;
  if (items.size) s += `${s ? ' ' : ''}RFC822.SIZE ${m.size}`;
  return s;
}

/** Bytes of responses gathered before a write. */
const SLAB_BYTES = 65_536;

/**
 * FETCH responses gathered into large writes: a socket write per 4 KiB message cost more than
 * building the message. Each response is copied into one 64 KiB buffer that goes out as one
 * write (cheaper than a writev of three pieces a message), and each write is awaited, so a
 * client that stops reading stops the FETCH with at most one slab held.
 */
class Slab {
  private buf = Buffer.allocUnsafe(SLAB_BYTES);
  private used = 0;
  private readonly io: SessionIO;

  constructor(io: SessionIO) {
    this.io = io;
  }

  /** Appends text, then (when given) a literal's octets and the `)` CRLF ending the response; a promise when it wrote. */
  put(text: string, literal?: Buffer): Promise<void> | undefined {
    // A UTF-16 code unit is at most 3 octets of UTF-8.
    const need = text.length * 3 + (literal ? literal.length + RESPONSE_END.length : 0);
    if (need > SLAB_BYTES - this.used) return this.putAfterFlush(text, literal, need);
    this.copy(text, literal);
    return undefined;
  }

  private async putAfterFlush(text: string, literal: Buffer | undefined, need: number): Promise<void> {
    await this.flush();
    if (need <= SLAB_BYTES) return this.copy(text, literal);
    // Larger than a slab: its own write.
    const pieces: Buffer[] = [Buffer.from(text, 'utf8')];
    if (literal) pieces.push(literal, RESPONSE_END);
    await this.io.write(pieces);
  }

  private copy(text: string, literal: Buffer | undefined): void {
    this.used += this.buf.write(text, this.used, 'utf8');
    if (!literal) return;
    this.used += literal.copy(this.buf, this.used);
    this.used += RESPONSE_END.copy(this.buf, this.used);
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    // A new slab: the socket may hold on to the written one until the kernel has taken it.
    const data = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(SLAB_BYTES);
    this.used = 0;
    await this.io.write(data);
  }
}

const RESPONSE_END = Buffer.from(')\r\n');

function streamable(items: FetchItems): boolean {
  if (items.sections.length !== 1 || items.envelope || items.body || items.bodystructure) return false;
  const s = items.sections[0]!;
  return s.path.length === 0 && s.part === '' && !s.partial && !s.binary && !s.size;
}

const SECTION_RE = /^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[([^\]]*)\](?:<(\d{1,10})\.(\d{1,10})>)?$/i;

export function parseFetchItems(t: Token | undefined): FetchItems {
  const items: FetchItems = { uid: false, flags: false, internaldate: false, size: false, envelope: false, bodystructure: false, body: false, modseq: false, sections: [] };
  const names: string[] = [];
  if (!t) throw new ParseError('FETCH needs items');
  if (t.t === 'list') for (const x of t.v) names.push(astring(x) ?? '');
  else names.push(astring(t) ?? '');
  if (names.length > 100) throw new ParseError('too many FETCH items');
  for (const raw of names) {
    const n = raw.toUpperCase();
    switch (n) {
      case 'ALL': Object.assign(items, { flags: true, internaldate: true, size: true, envelope: true }); continue;
      case 'FAST': Object.assign(items, { flags: true, internaldate: true, size: true }); continue;
      case 'FULL': Object.assign(items, { flags: true, internaldate: true, size: true, envelope: true, body: true }); continue;
      case 'UID': items.uid = true; continue;
      case 'FLAGS': items.flags = true; continue;
      case 'INTERNALDATE': items.internaldate = true; continue;
      case 'RFC822.SIZE': items.size = true; continue;
      case 'ENVELOPE': items.envelope = true; continue;
      case 'BODYSTRUCTURE': items.bodystructure = true; continue;
      case 'BODY': items.body = true; continue;
      case 'MODSEQ': items.modseq = true; continue;
      case 'RFC822': items.sections.push({ ...section(''), peek: false, legacy: 'RFC822' }); continue;
      case 'RFC822.HEADER': items.sections.push({ ...section('HEADER'), peek: true, legacy: 'RFC822.HEADER' }); continue;
      case 'RFC822.TEXT': items.sections.push({ ...section('TEXT'), peek: false, legacy: 'RFC822.TEXT' }); continue;
    }
    const m = SECTION_RE.exec(raw);
    if (!m) throw new ParseError(`unknown FETCH item ${raw.slice(0, 40)}`);
    const kind = m[1]!.toUpperCase();
    const s = section(m[2]!);
    s.peek = kind.endsWith('.PEEK') || kind === 'BINARY.SIZE';
    s.binary = kind.startsWith('BINARY');
    s.size = kind === 'BINARY.SIZE';
    if (s.binary && s.part !== '') throw new ParseError('BINARY takes part numbers only');
    if (m[3] !== undefined) s.partial = [Number(m[3]), Number(m[4])];
    items.sections.push(s);
  }
  return items;
}

function section(spec: string): Section {
  const s: Section = { spec, path: [], part: '', fields: [], peek: false, binary: false, size: false, partial: null };
  const m = /^((?:\d{1,5}\.)*\d{1,5})?\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?(?: \((.*)\))?$/i.exec(spec);
  if (!m) throw new ParseError('bad section');
  if (m[1]) s.path = m[1].split('.').map(Number);
  if (s.path.some((n) => n < 1) || s.path.length > 20) throw new ParseError('bad section part');
  s.part = (m[2]?.toUpperCase() ?? '') as Section['part'];
  if (s.part === 'MIME' && s.path.length === 0) throw new ParseError('MIME needs a part number');
  if (s.part.startsWith('HEADER.FIELDS')) {
    if (!m[3]) throw new ParseError('HEADER.FIELDS needs a list');
    s.fields = tokenize(m[3], []).map((t) => astring(t) ?? '');
    if (s.fields.length === 0 || s.fields.length > 100) throw new ParseError('bad HEADER.FIELDS list');
  } else if (m[3]) throw new ParseError('bad section');
  return s;
}

function sectionData(raw: Buffer, s: Section): Buffer | null {
  if (s.path.length === 0 && s.part === '') return raw;
  const root = s.path.length === 0 ? null : parseMessage(raw);
  const target = root ? partAt(root, s.path) : null;
  if (s.path.length > 0 && !target) return null;
  // The header and text of a message: the top level, or a message/rfc822 part's enclosed message.
  const msg = target ? target.message : { header: raw.subarray(0, headerEnd(raw)), body: raw.subarray(headerEnd(raw)) };
  switch (s.part) {
    case '': {
      const body = target!.body;
      return s.binary ? decodeTransfer(target!.header, body) : body;
    }
    case 'MIME':
      return target!.header;
    case 'HEADER':
      return msg ? msg.header : null;
    case 'TEXT':
      return msg ? msg.body : null;
    case 'HEADER.FIELDS':
    case 'HEADER.FIELDS.NOT':
      return msg ? selectHeaderLines(msg.header, s.fields, s.part === 'HEADER.FIELDS.NOT') : null;
  }
}

/** BINARY (RFC 3516): the part's content with its transfer encoding undone. */
function decodeTransfer(header: Buffer, body: Buffer): Buffer {
  const m = /^content-transfer-encoding:\s*([\w-]+)/im.exec(header.toString('latin1'));
  const enc = m?.[1]!.toLowerCase();
  if (enc === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (enc === 'quoted-printable') {
    const text = body.toString('latin1').replace(/=\r?\n/g, '');
    return Buffer.from(text.replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  }
  return body;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** date-time (RFC 9051 §9): "06-Dec-2026 05:57:33 +0000". */
export function formatDateTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function parseDateTime(s: string): Date {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  const mon = m ? MONTHS.findIndex((x) => x.toLowerCase() === m[2]!.toLowerCase()) : -1;
  if (!m || mon < 0) throw new ParseError('bad date-time');
  const utc = Date.UTC(Number(m[3]), mon, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  const off = (Number(m[8]) * 60 + Number(m[9])) * 60_000 * (m[7] === '+' ? 1 : -1);
  return new Date(utc - off);
}

void parseDate;
void seqToUid;
void nstr;
void str;

const COMMANDS: Record<string, { states: State[]; run: Handler }> = {
  CAPABILITY: { states: STATES_ANY, run: ImapSession.prototype.capability },
  NOOP: { states: STATES_ANY, run: ImapSession.prototype.noop },
  LOGOUT: { states: STATES_ANY, run: ImapSession.prototype.logout },
  ID: { states: STATES_ANY, run: ImapSession.prototype.id },
  STARTTLS: { states: ['not-authenticated'], run: ImapSession.prototype.starttls },
  LOGIN: { states: ['not-authenticated'], run: ImapSession.prototype.login },
  AUTHENTICATE: { states: ['not-authenticated'], run: ImapSession.prototype.authenticate },
  ENABLE: { states: STATES_AUTH, run: ImapSession.prototype.enable },
  NAMESPACE: { states: STATES_AUTH, run: ImapSession.prototype.namespace },
  SELECT: { states: STATES_AUTH, run: ImapSession.prototype.select },
  EXAMINE: { states: STATES_AUTH, run: ImapSession.prototype.examine },
  CREATE: { states: STATES_AUTH, run: ImapSession.prototype.create },
  DELETE: { states: STATES_AUTH, run: ImapSession.prototype.delete },
  RENAME: { states: STATES_AUTH, run: ImapSession.prototype.rename },
  SUBSCRIBE: { states: STATES_AUTH, run: ImapSession.prototype.subscribe },
  UNSUBSCRIBE: { states: STATES_AUTH, run: ImapSession.prototype.subscribe },
  LIST: { states: STATES_AUTH, run: ImapSession.prototype.list },
  LSUB: { states: STATES_AUTH, run: ImapSession.prototype.list },
  STATUS: { states: STATES_AUTH, run: ImapSession.prototype.status },
  APPEND: { states: STATES_AUTH, run: ImapSession.prototype.append },
  IDLE: { states: STATES_AUTH, run: ImapSession.prototype.idle },
  GETQUOTAROOT: { states: STATES_AUTH, run: ImapSession.prototype.getquotaroot },
  GETQUOTA: { states: STATES_AUTH, run: ImapSession.prototype.getquota },
  SETQUOTA: { states: STATES_AUTH, run: ImapSession.prototype.setquota },
  CHECK: { states: STATES_SEL, run: ImapSession.prototype.noop },
  CLOSE: { states: STATES_SEL, run: ImapSession.prototype.close },
  UNSELECT: { states: STATES_SEL, run: ImapSession.prototype.close },
  EXPUNGE: { states: STATES_SEL, run: ImapSession.prototype.expunge },
  FETCH: { states: STATES_SEL, run: ImapSession.prototype.fetch },
  STORE: { states: STATES_SEL, run: ImapSession.prototype.storeCmd },
  SEARCH: { states: STATES_SEL, run: ImapSession.prototype.search },
  SORT: { states: STATES_SEL, run: ImapSession.prototype.sort },
  THREAD: { states: STATES_SEL, run: ImapSession.prototype.thread },
  COPY: { states: STATES_SEL, run: ImapSession.prototype.copy },
  MOVE: { states: STATES_SEL, run: ImapSession.prototype.copy },
};
