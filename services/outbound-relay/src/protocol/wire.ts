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
