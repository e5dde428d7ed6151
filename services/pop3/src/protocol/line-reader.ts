// Incremental line reader. Bytes arrive in arbitrary packets; lines are taken one at a
// time with a length cap chosen by the caller for that line (commands: RFC 2449 §4,
// 255 octets including CRLF; SASL responses: a larger cap, RFC 5034 §4). A line over the
// cap is reported once, as soon as it is known to be too long, and the rest of it up to
// the next LF is discarded, so its tail is never read as a command.

export type LineResult =
  | { kind: 'line'; text: string }
  | { kind: 'overlong' }
  | { kind: 'none' };

const LF = 0x0a;
const CR = 0x0d;

export class LineReader {
  private buf: Buffer = Buffer.alloc(0);
  private discarding = false;

  push(chunk: Buffer): void {
    if (this.discarding) {
      const i = chunk.indexOf(LF);
      if (i < 0) return;
      this.discarding = false;
      chunk = chunk.subarray(i + 1);
    }
    if (chunk.length === 0) return;
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
  }

  /** Drops everything buffered (RFC 2595 §4: nothing sent before the TLS handshake counts after it). Returns the bytes dropped. */
  clear(): number {
    const n = this.buf.length;
    this.buf = Buffer.alloc(0);
    this.discarding = false;
    return n;
  }

  /** Bytes buffered and not yet taken. */
  get pending(): number {
    return this.buf.length;
  }

  /**
   * The next complete line (CRLF or bare LF stripped), `overlong` when the next line
   * exceeds `maxOctets` including its CRLF, or `none` when more bytes are needed.
   */
  next(maxOctets: number): LineResult {
    const i = this.buf.indexOf(LF);
    if (i < 0) {
      // Without the LF the line is at least buf.length + 1 octets long (CRLF counts 2,
      // but a bare LF is accepted, so only the LF is certain).
      if (this.buf.length + 1 > maxOctets) {
        this.buf = Buffer.alloc(0);
        this.discarding = true;
        return { kind: 'overlong' };
      }
      return { kind: 'none' };
    }
    const end = i > 0 && this.buf[i - 1] === CR ? i - 1 : i;
    const octets = i + 1;
    const line = this.buf.subarray(0, end);
    this.buf = this.buf.subarray(i + 1);
    if (octets > maxOctets) return { kind: 'overlong' };
    // latin1 keeps every octet as one char: arguments are ASCII by RFC, passwords are
    // re-encoded to bytes before verification.
    return { kind: 'line', text: line.toString('latin1') };
  }
}
