// Incremental command reader (RFC 9051 §2.2, §4): CRLF lines, `{n}` synchronizing literals
// (the reader asks for a "+" continuation) and `{n+}` LITERAL+ (RFC 7888), every length
// capped before any byte is buffered. Tokenizing is separate and bounded in depth.

export type Token =
  | { t: 'atom'; v: string }
  | { t: 'string'; v: Buffer }
  | { t: 'list'; v: Token[] };

export interface ReaderLimits {
  /** Longest line (text between literals) including CRLF. */
  maxLineOctets: number;
  /** Largest literal accepted (APPEND's message). */
  maxLiteralOctets: number;
  /** Total octets of one command, literals included. */
  maxCommandOctets: number;
}

export type ReaderItem =
  /** A whole command: its lines joined with literal placeholders, and the literals. */
  | { type: 'command'; line: string; literals: Buffer[] }
  /** A synchronizing literal may be sent: answer "+ ...". */
  | { type: 'continue' }
  /** The command was refused before it was complete; `fatal` means close the connection. */
  | { type: 'refused'; tag: string | null; reason: 'line-too-long' | 'literal-too-big' | 'command-too-big'; fatal: boolean };

const LITERAL_AT_END = /\{(\d{1,20})(\+?)\}\r\n$/;

export class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private lines: string[] = [];
  private literals: Buffer[] = [];
  private total = 0;
  /** Octets of literal still to read, when inside one. */
  private want = -1;
  /** Discarding the rest of an over-long line. */
  private skippingLine = false;
  readonly limits: ReaderLimits;

  constructor(limits: ReaderLimits) {
    this.limits = limits;
  }

  /** Raw-line mode (IDLE's DONE, AUTHENTICATE responses): the next line as is, or null. */
  takeLine(): string | null {
    const i = this.buf.indexOf('\r\n');
    if (i < 0) return null;
    const line = this.buf.subarray(0, i).toString('utf8');
    this.buf = this.buf.subarray(i + 2);
    return line;
  }

  /** Bytes buffered but not yet consumed. */
  get pending(): number {
    return this.buf.length;
  }

  /** Forgets everything buffered (after STARTTLS: those bytes came in clear). */
  clear(): void {
    this.buf = Buffer.alloc(0);
    this.reset();
    this.skippingLine = false;
  }

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** The next complete item from buffered bytes, or null when more are needed. */
  next(): ReaderItem | null {
    for (;;) {
      if (this.want >= 0) {
        if (this.buf.length < this.want) return null;
        this.literals.push(Buffer.from(this.buf.subarray(0, this.want)));
        this.buf = this.buf.subarray(this.want);
        this.want = -1;
        continue;
      }
      const i = this.buf.indexOf('\n');
      if (this.skippingLine) {
        if (i < 0) {
          this.buf = Buffer.alloc(0);
          return null;
        }
        this.buf = this.buf.subarray(i + 1);
        this.skippingLine = false;
        continue;
      }
      if (i < 0) {
        if (this.buf.length > this.limits.maxLineOctets) {
          const tag = tagOf(this.buf.subarray(0, 64).toString('latin1'));
          this.reset();
          this.skippingLine = true;
          this.buf = Buffer.alloc(0);
          return { type: 'refused', tag, reason: 'line-too-long', fatal: false };
        }
        return null;
      }
      const raw = this.buf.subarray(0, i + 1);
      this.buf = this.buf.subarray(i + 1);
      if (raw.length > this.limits.maxLineOctets) {
        const tag = this.lines.length ? tagOf(this.lines[0]!) : tagOf(raw.toString('latin1'));
        this.reset();
        return { type: 'refused', tag, reason: 'line-too-long', fatal: false };
      }
      // A bare LF ends a line too (lenient, as most servers are); CR stays part of CRLF only.
      let line = raw.toString('utf8');
      if (!line.endsWith('\r\n')) line = line.slice(0, -1) + '\r\n';
      this.total += raw.length;
      const m = LITERAL_AT_END.exec(line);
      if (!m) {
        this.lines.push(line.slice(0, -2));
        const item: ReaderItem = { type: 'command', line: this.lines.join(''), literals: this.literals };
        this.reset();
        return item;
      }
      const n = Number(m[1]);
      const nonSync = m[2] === '+';
      const tag = tagOf(this.lines.length ? this.lines[0]! : line);
      const tooBig = n > this.limits.maxLiteralOctets ? 'literal-too-big' : this.total + n > this.limits.maxCommandOctets ? 'command-too-big' : null;
      if (tooBig) {
        this.reset();
        // A non-synchronizing literal's octets are already on their way and cannot be told
        // apart from commands: the connection must go (RFC 7888 §4).
        return { type: 'refused', tag, reason: tooBig, fatal: nonSync };
      }
      this.lines.push(line.slice(0, m.index) + `{${this.literals.length}}`);
      this.total += n;
      this.want = n;
      if (!nonSync) return { type: 'continue' };
    }
  }

  private reset(): void {
    this.lines = [];
    this.literals = [];
    this.total = 0;
    this.want = -1;
  }
}

function tagOf(line: string): string | null {
  const m = /^([\x21-\x7e]+?) /.exec(line);
  return m && !/[(){%*"\\+]/.test(m[1]!) ? m[1]! : null;
}

export class ParseError extends Error {}

// A backslash is allowed inside atoms: flags (\Seen) are atoms with one in front.
const ATOM_STOP = new Set([' ', '(', ')', '{', '"', '\r', '\n']);

/**
 * Tokenizes a command line as assembled by CommandReader: literals appear as `{index}`
 * placeholders. Brackets inside an atom (BODY[HEADER.FIELDS (A B)]) belong to the atom.
 */
export function tokenize(line: string, literals: Buffer[], maxDepth = 32, maxTokens = 100_000): Token[] {
  let i = 0;
  let count = 0;
  const parseList = (depth: number, closer: string | null): Token[] => {
    if (depth > maxDepth) throw new ParseError('too deeply nested');
    const out: Token[] = [];
    for (;;) {
      if (i >= line.length) {
        if (closer) throw new ParseError('missing )');
        return out;
      }
      const ch = line[i]!;
      if (ch === ' ') {
        i++;
        continue;
      }
      if (++count > maxTokens) throw new ParseError('too many tokens');
      if (ch === ')') {
        if (closer !== ')') throw new ParseError('unexpected )');
        i++;
        return out;
      }
      if (ch === '(') {
        i++;
        out.push({ t: 'list', v: parseList(depth + 1, ')') });
        continue;
      }
      if (ch === '"') {
        i++;
        let s = '';
        for (;;) {
          if (i >= line.length) throw new ParseError('unterminated quoted string');
          const c = line[i++]!;
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i++];
            if (e !== '"' && e !== '\\') throw new ParseError('bad escape in quoted string');
            s += e;
          } else s += c;
        }
        out.push({ t: 'string', v: Buffer.from(s, 'utf8') });
        continue;
      }
      if (ch === '{') {
        const m = /^\{(\d+)\}/.exec(line.slice(i, i + 24));
        const lit = m ? literals[Number(m[1])] : undefined;
        if (!m || !lit) throw new ParseError('bad literal');
        i += m[0].length;
        out.push({ t: 'string', v: lit });
        continue;
      }
      let a = '';
      while (i < line.length && !ATOM_STOP.has(line[i]!)) {
        if (line[i] === '[') {
          const close = line.indexOf(']', i);
          if (close < 0) throw new ParseError('missing ]');
          a += line.slice(i, close + 1);
          i = close + 1;
          continue;
        }
        const c = line.charCodeAt(i);
        if (c < 0x20 || c === 0x7f) throw new ParseError('control character');
        a += line[i++];
      }
      if (a === '') throw new ParseError(`unexpected ${JSON.stringify(line[i])}`);
      out.push({ t: 'atom', v: a });
    }
  };
  return parseList(0, null);
}

/** The text of an astring (atom, quoted or literal). */
export function astring(tok: Token | undefined): string | null {
  if (!tok) return null;
  if (tok.t === 'atom') return tok.v;
  if (tok.t === 'string') return tok.v.toString('utf8');
  return null;
}
