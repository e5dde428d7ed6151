// Just enough MIME (RFC 2045/2046, RFC 5322) for FETCH: the header/body split, header fields,
// Content-Type parameters and the multipart tree. Bounded: at most MAX_PARTS parts and
// MAX_DEPTH levels, whatever the message says.

const MAX_PARTS = 1_000;
const MAX_DEPTH = 20;

export interface Part {
  /** Offsets into the raw message. */
  start: number;
  headerEnd: number; // first octet of the body
  end: number;
  header: Buffer;
  body: Buffer;
  type: string;
  subtype: string;
  params: [string, string][];
  children: Part[];
  /** message/rfc822 only: the enclosed message. */
  message: Part | null;
}

/** Index of the body's first octet: after the first empty line, or the end. */
export function headerEnd(raw: Buffer, from = 0, to = raw.length): number {
  if (raw[from] === 0x0d && raw[from + 1] === 0x0a) return from + 2;
  if (raw[from] === 0x0a) return from + 1;
  const crlf = raw.indexOf('\r\n\r\n', from);
  const lf = raw.indexOf('\n\n', from);
  let end = to;
  if (crlf >= 0 && crlf < to) end = crlf + 4;
  if (lf >= 0 && lf < to && lf + 2 < end) end = lf + 2;
  return Math.min(end, to);
}

/** Unfolded header fields in order: [name, value]. */
export function headerFields(header: Buffer): [string, string][] {
  const text = header.toString('latin1');
  const out: [string, string][] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && out.length > 0) {
      out[out.length - 1]![1] += ' ' + line.trim();
      continue;
    }
    const c = line.indexOf(':');
    if (c <= 0) continue;
    out.push([line.slice(0, c).trim(), line.slice(c + 1).trim()]);
  }
  return out;
}

export function field(fields: [string, string][], name: string): string | null {
  const n = name.toLowerCase();
  for (const [k, v] of fields) if (k.toLowerCase() === n) return v;
  return null;
}

/** The raw lines of the named fields (or all but them), as HEADER.FIELDS returns them, with the final CRLF. */
export function selectHeaderLines(header: Buffer, names: string[], not: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const text = header.toString('latin1');
  const lines = text.split(/(?<=\n)/);
  let keep = false;
  let out = '';
  for (const line of lines) {
    if (line === '\r\n' || line === '\n') break;
    if (line[0] !== ' ' && line[0] !== '\t') {
      const c = line.indexOf(':');
      const name = c > 0 ? line.slice(0, c).trim().toLowerCase() : '';
      keep = wanted.has(name) !== not;
    }
    if (keep) out += line;
  }
  return Buffer.from(out + '\r\n', 'latin1');
}

/** Content-Type (or Content-Disposition) value: type/subtype and parameters. */
export function parseContentType(v: string | null): { type: string; subtype: string; params: [string, string][] } {
  const dflt = { type: 'text', subtype: 'plain', params: [['charset', 'us-ascii']] as [string, string][] };
  if (!v) return dflt;
  const [head, ...rest] = splitParams(v);
  const m = /^([^/\s]+)\/([^\s;]+)$/.exec(head!.trim());
  if (!m) return dflt;
  return { type: m[1]!.toLowerCase(), subtype: m[2]!.toLowerCase(), params: paramsOf(rest) };
}

export function splitParams(v: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === '"' && v[i - 1] !== '\\') q = !q;
    if (c === ';' && !q) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

export function paramsOf(parts: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const p of parts) {
    const e = p.indexOf('=');
    if (e <= 0) continue;
    let val = p.slice(e + 1).trim();
    if (val.startsWith('"') && val.endsWith('"') && val.length >= 2) val = val.slice(1, -1).replace(/\\(.)/g, '$1');
    out.push([p.slice(0, e).trim().toLowerCase(), val]);
  }
  return out;
}

/** The MIME tree of a message (or of the part from..to). */
export function parseMessage(raw: Buffer, from = 0, to = raw.length, depth = 0, budget = { parts: MAX_PARTS }): Part {
  const hEnd = headerEnd(raw, from, to);
  const header = raw.subarray(from, hEnd);
  const fields = headerFields(header);
  const ct = parseContentType(field(fields, 'content-type'));
  const part: Part = { start: from, headerEnd: hEnd, end: to, header, body: raw.subarray(hEnd, to), ...ct, children: [], message: null };
  if (--budget.parts < 0 || depth >= MAX_DEPTH) return part;
  if (ct.type === 'multipart') {
    const boundary = ct.params.find(([k]) => k === 'boundary')?.[1];
    if (boundary) {
      for (const [s, e] of splitMultipart(raw, hEnd, to, boundary)) {
        if (budget.parts <= 0) break;
        const child = parseMessage(raw, s, e, depth + 1, budget);
        // Parts of a multipart/digest default to message/rfc822 (RFC 2046 §5.1.5).
        if (ct.subtype === 'digest' && !field(headerFields(child.header), 'content-type')) {
          Object.assign(child, { type: 'message', subtype: 'rfc822', params: [] });
          child.message = parseMessage(raw, child.headerEnd, e, depth + 2, budget);
        }
        part.children.push(child);
      }
    }
  } else if (ct.type === 'message' && (ct.subtype === 'rfc822' || ct.subtype === 'global')) {
    part.message = parseMessage(raw, hEnd, to, depth + 1, budget);
  }
  return part;
}

/** [start, end) of each body part between the boundary delimiters (CRLF before a delimiter belongs to it). */
function splitMultipart(raw: Buffer, from: number, to: number, boundary: string): [number, number][] {
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const out: [number, number][] = [];
  let pos = from;
  let current = -1;
  while (pos < to) {
    const i = raw.indexOf(delim, pos);
    if (i < 0 || i >= to) break;
    const atLineStart = i === from || raw[i - 1] === 0x0a;
    if (!atLineStart) {
      pos = i + delim.length;
      continue;
    }
    const lineEnd = raw.indexOf('\n', i);
    const after = raw.subarray(i + delim.length, i + delim.length + 2).toString('latin1');
    if (current >= 0) {
      let e = i;
      if (raw[e - 1] === 0x0a) e--;
      if (raw[e - 1] === 0x0d) e--;
      out.push([current, Math.max(current, e)]);
    }
    if (after === '--') return out;
    current = lineEnd < 0 || lineEnd >= to ? to : lineEnd + 1;
    pos = current;
  }
  if (current >= 0 && current < to) out.push([current, to]);
  return out;
}

/** The part at a section path ("1.2"), or null (RFC 9051 §6.4.5 section numbering). */
export function partAt(root: Part, path: number[]): Part | null {
  let cur = root;
  let isMessage = true;
  for (const n of path) {
    let base: Part;
    if (isMessage || cur.type === 'multipart') base = cur;
    else if (cur.message) base = cur.message;
    else return null;
    if (base.type === 'multipart') {
      const c = base.children[n - 1];
      if (!c) return null;
      cur = c;
    } else if (n === 1 && base !== cur) cur = { ...base, header: Buffer.alloc(0) };
    else if (n === 1 && isMessage) cur = { ...base, header: Buffer.alloc(0) };
    else return null;
    isMessage = false;
  }
  return cur;
}
