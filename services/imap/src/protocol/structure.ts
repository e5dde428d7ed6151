// ENVELOPE and BODYSTRUCTURE (RFC 9051 §7.5.2), from the MIME tree. Header values go out as
// they are stored (encoded-words stay encoded; clients decode them), 8-bit octets as literals.
import { field, headerFields, paramsOf, parseContentType, splitParams, type Part } from './mime.ts';
import { list, nstr, str, type Piece } from './encoder.ts';

const NIL: Piece[] = ['NIL'];

/** One address of an address-list: name, mailbox and host, or a group marker. */
interface Address {
  name: string | null;
  mailbox: string | null;
  host: string | null;
}

/** Splits at top-level commas (not inside quotes, angle brackets or comments). */
function splitTop(v: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  let angle = 0;
  let paren = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\' && q) {
      cur += c + (v[++i] ?? '');
      continue;
    }
    if (c === '"') q = !q;
    else if (!q && c === '<') angle++;
    else if (!q && c === '>') angle = Math.max(0, angle - 1);
    else if (!q && c === '(') paren++;
    else if (!q && c === ')') paren = Math.max(0, paren - 1);
    if (c === sep && !q && angle === 0 && paren === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

function unquote(s: string): string {
  const t = s.trim();
  return t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t;
}

function one(spec: string): Address {
  const m = /^(.*?)<([^>]*)>\s*(\(.*\))?$/.exec(spec);
  let name: string | null = null;
  let addr = spec;
  if (m) {
    name = unquote(m[1]!) || null;
    addr = m[2]!.replace(/^@[^:]*:/, ''); // drop a source route
  } else {
    const c = /\(([^)]*)\)/.exec(spec);
    if (c) name = c[1]!.trim() || null;
    addr = spec.replace(/\([^)]*\)/g, '').trim();
  }
  const at = addr.lastIndexOf('@');
  return at < 0 ? { name, mailbox: addr || null, host: null } : { name, mailbox: unquote(addr.slice(0, at)), host: addr.slice(at + 1) };
}

export function parseAddresses(v: string | null): Address[] {
  if (!v) return [];
  const out: Address[] = [];
  for (const item of splitTop(v, ',').slice(0, 1_000)) {
    const g = /^([^"<:]*|"[^"]*"):(.*?);?$/.exec(item);
    if (g && !item.includes('<') && item.includes(':')) {
      // RFC 9051 §7.5.2: a group is (NIL NIL name NIL) ... (NIL NIL NIL NIL).
      out.push({ name: null, mailbox: unquote(g[1]!), host: null });
      for (const a of splitTop(g[2]!, ',')) out.push(one(a));
      out.push({ name: null, mailbox: null, host: null });
      continue;
    }
    out.push(one(item));
  }
  return out;
}

function addressList(v: string | null, utf8: boolean): Piece[] {
  const as = parseAddresses(v);
  if (as.length === 0) return NIL;
  // RFC 9051 §9: address-list is "(" 1*address ")", no spaces between the addresses.
  const out: Piece[] = ['('];
  for (const a of as) out.push(...list([[nstr(a.name, utf8)], NIL, [nstr(a.mailbox, utf8)], [nstr(a.host, utf8)]]));
  out.push(')');
  return out;
}

export function envelope(header: Buffer, utf8: boolean): Piece[] {
  const f = headerFields(header);
  const from = field(f, 'from');
  const sender = field(f, 'sender') ?? from;
  const replyTo = field(f, 'reply-to') ?? from;
  const s = (name: string): Piece[] => [nstr(field(f, name), utf8)];
  return list([s('date'), s('subject'), addressList(from, utf8), addressList(sender, utf8), addressList(replyTo, utf8), addressList(field(f, 'to'), utf8), addressList(field(f, 'cc'), utf8), addressList(field(f, 'bcc'), utf8), s('in-reply-to'), s('message-id')]);
}

function paramList(params: [string, string][]): Piece[] {
  if (params.length === 0) return NIL;
  const items: Piece[][] = [];
  for (const [k, v] of params) items.push([str(k.toUpperCase())], [str(v)]);
  return list(items);
}

function disposition(fields: [string, string][]): Piece[] {
  const v = field(fields, 'content-disposition');
  if (!v) return NIL;
  const [head, ...rest] = splitParams(v);
  return list([[str(head!.trim().toLowerCase())], paramList(paramsOf(rest))]);
}

function lines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/** BODYSTRUCTURE (extensible = true) or BODY (false) of a part. */
export function bodyStructure(p: Part, extensible: boolean, utf8: boolean): Piece[] {
  const f = headerFields(p.header);
  if (p.type === 'multipart') {
    if (p.children.length === 0) {
      // A multipart with no parts still needs one: describe it as an empty text/plain.
      return ['(("text" "plain" NIL NIL NIL "7bit" 0 0) ', str(p.subtype), ')'];
    }
    const out: Piece[] = ['('];
    for (const c of p.children) out.push(...bodyStructure(c, extensible, utf8));
    out.push(' ', str(p.subtype));
    if (extensible) out.push(' ', ...paramList(p.params), ' ', ...disposition(f), ' ', nstr(field(f, 'content-language')), ' ', nstr(field(f, 'content-location')));
    out.push(')');
    return out;
  }
  const enc = (field(f, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  const out: Piece[] = ['(', str(p.type), ' ', str(p.subtype), ' ', ...paramList(p.params), ' ', nstr(field(f, 'content-id')), ' ', nstr(field(f, 'content-description'), utf8), ' ', str(enc), ` ${p.body.length}`];
  if (p.type === 'text') out.push(` ${lines(p.body)}`);
  if (p.message) out.push(' ', ...envelope(p.message.header, utf8), ' ', ...bodyStructure(p.message, extensible, utf8), ` ${lines(p.body)}`);
  if (extensible) out.push(' ', nstr(field(f, 'content-md5')), ' ', ...disposition(f), ' ', nstr(field(f, 'content-language')), ' ', nstr(field(f, 'content-location')));
  out.push(')');
  return out;
}

export { parseContentType };
