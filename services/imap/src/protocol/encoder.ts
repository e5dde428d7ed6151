// Every byte the server sends is built here (RFC 9051 §4, §7): strings go out quoted when they
// can and as literals when they cannot, mailbox names as UTF-8 for IMAP4rev2 / UTF8=ACCEPT
// clients and as modified UTF-7 (RFC 3501 §5.1.3) for IMAP4rev1 clients.

/** A response fragment: text (ASCII or UTF-8) or the raw bytes of a literal. */
export type Piece = string | Buffer;

/** Whether a string may travel as a quoted string (RFC 9051 §4.3: no CR, LF, NUL; 8-bit only with UTF-8). */
function quotable(s: string, utf8: boolean): boolean {
  if (s.length > 1024) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
    if (c > 0x7e && !utf8) return false;
    if (c < 0x20 && c !== 9) return false;
  }
  return true;
}

export function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, (m) => `\\${m}`)}"`;
}

/** A literal: `{n}` CRLF and the octets. */
export function literal(data: Buffer | string): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([Buffer.from(`{${b.length}}\r\n`), b]);
}

/** string (RFC 9051 §4.3): quoted when possible, else a literal. */
export function str(s: string | Buffer, utf8 = false): Piece {
  if (Buffer.isBuffer(s)) {
    const text = s.toString('latin1');
    return quotable(text, false) ? quoted(text) : literal(s);
  }
  return quotable(s, utf8) ? quoted(s) : literal(s);
}

/** nstring: NIL or a string. */
export function nstr(s: string | Buffer | null | undefined, utf8 = false): Piece {
  return s === null || s === undefined ? 'NIL' : str(s, utf8);
}

/** A parenthesized list of pieces, flattened into pieces. */
export function list(items: Piece[][]): Piece[] {
  const out: Piece[] = ['('];
  items.forEach((it, i) => {
    if (i > 0) out.push(' ');
    out.push(...it);
  });
  out.push(')');
  return out;
}

/** Joins pieces into one buffer (text as UTF-8). */
export function join(pieces: Piece[]): Buffer {
  return Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
}

/** A mailbox name as a client should see it. */
export function mailboxName(name: string, utf8: boolean): Piece {
  return str(utf8 ? name : encodeMutf7(name), utf8);
}

// --- modified UTF-7 (RFC 3501 §5.1.3) ---

/** "&" becomes "&-"; runs of non-printable-ASCII become "&" + modified BASE64 of UTF-16BE + "-". */
export function encodeMutf7(s: string): string {
  let out = '';
  let run: number[] = [];
  const flush = () => {
    if (run.length === 0) return;
    const b = Buffer.alloc(run.length * 2);
    run.forEach((u, i) => b.writeUInt16BE(u, i * 2));
    out += `&${b.toString('base64').replace(/=+$/, '').replace(/\//g, ',')}-`;
    run = [];
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += c === 0x26 ? '&-' : s[i];
    } else run.push(c);
  }
  flush();
  return out;
}

/** Inverse of encodeMutf7; null when the input is not valid modified UTF-7. */
export function decodeMutf7(s: string): string | null {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const c = s.charCodeAt(i);
    if (c > 0x7e) return null; // control characters are the name check's business
    if (ch !== '&') {
      out += ch;
      continue;
    }
    const end = s.indexOf('-', i + 1);
    if (end < 0) return null;
    const b64 = s.slice(i + 1, end);
    i = end;
    if (b64 === '') {
      out += '&';
      continue;
    }
    if (!/^[A-Za-z0-9+,]+$/.test(b64)) return null;
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    if (bytes.length % 2 !== 0) return null;
    for (let j = 0; j < bytes.length; j += 2) out += String.fromCharCode(bytes.readUInt16BE(j));
  }
  return out;
}
