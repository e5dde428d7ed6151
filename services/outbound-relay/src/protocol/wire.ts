// Bytes on the wire: CRLF only (RFC 5321 §2.3.8). Dot-stuffing is done by the SMTP client's
// data stream; this module makes the stored message canonical first so that what we count,
// log and test is exactly what leaves.

/** Every bare LF and bare CR becomes CRLF; existing CRLF pairs are kept. */
export function toCrlf(raw: Buffer): Buffer {
  let needs = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (b === 0x0a && raw[i - 1] !== 0x0d) { needs = true; break; }
    if (b === 0x0d && raw[i + 1] !== 0x0a) { needs = true; break; }
  }
  if (!needs) return raw;
  const out = Buffer.allocUnsafe(raw.length * 2);
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!;
    if (b === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      if (raw[i + 1] === 0x0a) i++;
    } else if (b === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else out[o++] = b;
  }
  return out.subarray(0, o);
}

/** RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF. */
export const MAX_LINE_OCTETS = 998;

const SP = 0x20;
const TAB = 0x09;

/**
 * Every line of `crlfMessage` longer than 998 octets (CRLF excluded) broken into lines that
 * fit, the way Postfix's smtp_line_length_limit does, so that no receiving server refuses or
 * truncates it: at the last space or tab in the line's final 200 octets a CRLF goes before
 * it (plain folding: in a header that is RFC 5322 §2.2.3 folding and changes nothing); where
 * there is none, CRLF SP goes in (Postfix ≥ 2.9's choice, least harm to MIME), never inside
 * a UTF-8 sequence. Returns the same buffer when no line is too long (all mail that fits).
 * It runs before DKIM signing, so the signatures cover the bytes sent.
 */
export function foldLongLines(crlfMessage: Buffer, max = MAX_LINE_OCTETS): Buffer {
  let start = 0;
  let tooLong = false;
  for (let lf = crlfMessage.indexOf(0x0a); ; lf = crlfMessage.indexOf(0x0a, lf + 1)) {
    const end = lf < 0 ? crlfMessage.length : lf - 1; // the CR before LF
    if (end - start > max) {
      tooLong = true;
      break;
    }
    if (lf < 0) break;
    start = lf + 1;
  }
  if (!tooLong) return crlfMessage;
  const out: Buffer[] = [];
  start = 0;
  for (;;) {
    const lf = crlfMessage.indexOf(0x0a, start);
    const contentEnd = lf < 0 ? crlfMessage.length : lf - 1;
    let at = start;
    let prefix = 0; // the SP a CRLF SP break put in front of this piece
    while (contentEnd - at + prefix > max) {
      const limit = at + max - prefix;
      let cut = -1;
      for (let i = limit; i > at && i > limit - 200; i--) {
        const b = crlfMessage[i]!;
        if (b === SP || b === TAB) {
          cut = i;
          break;
        }
      }
      if (cut > at) {
        // CRLF before the whitespace: the whitespace starts the next line.
        out.push(crlfMessage.subarray(at, cut), Buffer.from('\r\n'));
        at = cut;
        prefix = 0;
      } else {
        cut = limit;
        while (cut > at + 1 && (crlfMessage[cut]! & 0xc0) === 0x80) cut--; // not inside a UTF-8 sequence
        out.push(crlfMessage.subarray(at, cut), Buffer.from('\r\n '));
        at = cut;
        prefix = 1;
      }
    }
    if (lf < 0) {
      out.push(crlfMessage.subarray(at));
      break;
    }
    out.push(crlfMessage.subarray(at, lf + 1));
    start = lf + 1;
  }
  return Buffer.concat(out);
}

/** RFC 5321 §4.5.2 transparency: what the DATA phase carries for `crlfMessage` (for tests and size). */
export function dotStuff(crlfMessage: Buffer): Buffer {
  const s = crlfMessage.toString('latin1');
  const stuffed = (s.startsWith('.') ? '.' : '') + s.replace(/\r\n\./g, '\r\n..');
  const body = stuffed.endsWith('\r\n') || stuffed === '' ? stuffed : stuffed + '\r\n';
  return Buffer.from(body + '.\r\n', 'latin1');
}

/** The header section (up to, not including, the first empty line), CRLF-terminated. */
export function headerSection(crlfMessage: Buffer): Buffer {
  const i = crlfMessage.indexOf('\r\n\r\n');
  if (i < 0) return crlfMessage.subarray(0, crlfMessage.length);
  return crlfMessage.subarray(0, i + 2);
}

export function has8bit(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) if (buf[i]! > 0x7f) return true;
  return false;
}
