// Domain names on the wire (RFC 1035 §3.1, §4.1.4) and in presentation form.
import { FormatError } from './errors.ts';

const MAX_NAME_WIRE = 255;
const MAX_LABEL = 63;

function isPlain(b: number): boolean {
  return b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c;
}

function labelText(buf: Buffer, start: number, len: number): string {
  let plain = true;
  for (let i = start; i < start + len; i++) {
    if (!isPlain(buf[i]!)) {
      plain = false;
      break;
    }
  }
  if (plain) return buf.toString('latin1', start, start + len);
  let s = '';
  for (let i = start; i < start + len; i++) {
    const b = buf[i]!;
    if (isPlain(b)) s += String.fromCharCode(b);
    else if (b === 0x2e) s += '\\.';
    else if (b === 0x5c) s += '\\\\';
    else s += '\\' + String(b).padStart(3, '0');
  }
  return s;
}

/**
 * Reads a possibly compressed name at `start`. Every pointer must point strictly before
 * the segment that contains it, so pointer targets decrease and no loop can form.
 * Returns the name and the offset just after it in the original byte stream.
 */
export function readName(buf: Buffer, start: number): { name: string; next: number } {
  let pos = start;
  let lowest = start;
  let next = -1;
  let wire = 1; // the terminating zero octet
  const labels: string[] = [];
  for (;;) {
    if (pos >= buf.length) throw new FormatError('dns.truncated', 'name runs past the end of the message', pos);
    const len = buf[pos]!;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new FormatError('dns.truncated', 'compression pointer cut short', pos);
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (next < 0) next = pos + 2;
      if (target >= lowest) throw new FormatError('dns.pointer-loop', `compression pointer to ${target} does not point backwards`, pos);
      lowest = target;
      pos = target;
      continue;
    }
    if (kind !== 0) throw new FormatError('dns.bad-label-type', `label type 0x${kind.toString(16)} is not supported`, pos);
    if (pos + 1 + len > buf.length) throw new FormatError('dns.truncated', 'label runs past the end of the message', pos);
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) throw new FormatError('dns.name-too-long', 'name longer than 255 octets', pos);
    labels.push(labelText(buf, pos + 1, len));
    pos += 1 + len;
  }
  return { name: labels.length === 0 ? '.' : labels.join('.'), next };
}

export interface WireName {
  labels: Buffer[];
  /** lower-cased presentation form of each suffix, for compression lookups */
  suffixKeys: string[];
}

/** Parses a presentation name ("a.example.org", "example.org.", ".", "a\.b.example") into labels. */
export function parseName(name: string): WireName {
  const labels: Buffer[] = [];
  if (name !== '.' && name !== '') {
    let cur: number[] = [];
    let i = 0;
    const n = name.length;
    const push = () => {
      if (cur.length === 0) throw new FormatError('dns.bad-name', `empty label in ${JSON.stringify(name)}`);
      if (cur.length > MAX_LABEL) throw new FormatError('dns.label-too-long', `label longer than 63 octets in ${JSON.stringify(name)}`);
      labels.push(Buffer.from(cur));
      cur = [];
    };
    while (i < n) {
      const c = name.charCodeAt(i);
      if (c === 0x2e) {
        push();
        i++;
        if (i === n) break; // trailing dot: fully qualified
        continue;
      }
      if (c === 0x5c) {
        const d = name.slice(i + 1, i + 4);
        if (/^\d{3}$/.test(d)) {
          const v = Number(d);
          if (v > 255) throw new FormatError('dns.bad-name', `bad escape \\${d}`);
          cur.push(v);
          i += 4;
        } else if (i + 1 < n) {
          cur.push(name.charCodeAt(i + 1) & 0xff);
          i += 2;
        } else {
          throw new FormatError('dns.bad-name', 'name ends in a lone backslash');
        }
        continue;
      }
      if (c > 0xff) throw new FormatError('dns.bad-name', `non-Latin-1 character in ${JSON.stringify(name)} (use punycode)`);
      cur.push(c);
      i++;
    }
    if (i === n && cur.length > 0) push();
  }
  let wire = 1;
  for (const l of labels) wire += l.length + 1;
  if (wire > MAX_NAME_WIRE) throw new FormatError('dns.name-too-long', 'name longer than 255 octets');
  const suffixKeys: string[] = new Array(labels.length);
  let key = '';
  for (let i = labels.length - 1; i >= 0; i--) {
    const l = labels[i]!;
    const text = labelText(l, 0, l.length).toLowerCase();
    key = key === '' ? text : text + '.' + key;
    suffixKeys[i] = key;
  }
  return { labels, suffixKeys };
}
