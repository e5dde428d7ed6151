// RFC 1939 §3: multi-line responses byte-stuff every line that begins with "." and end
// with CRLF "." CRLF. Stuffing works chunk by chunk, so a line that begins in the next
// chunk is still seen as a line start. Lines are taken to start after every LF (not only
// after CRLF): a bare LF followed by "." would otherwise let an LF-splitting client see
// an early terminator. For CRLF mail (all mail the ingress stores) the two rules agree and
// the client's un-stuffed bytes are exactly the stored ones.

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const DOT_BUF = Buffer.from('.');

export class DotStuffer {
  private atLineStart = true;
  private last2: [number, number] = [-1, -1];

  push(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const parts: Buffer[] = [];
    let from = 0;
    if (this.atLineStart && chunk[0] === DOT) parts.push(DOT_BUF);
    let i = chunk.indexOf(LF);
    while (i >= 0 && i + 1 < chunk.length) {
      if (chunk[i + 1] === DOT) {
        parts.push(chunk.subarray(from, i + 1), DOT_BUF);
        from = i + 1;
      }
      i = chunk.indexOf(LF, i + 1);
    }
    this.atLineStart = chunk[chunk.length - 1] === LF;
    this.last2 = chunk.length >= 2 ? [chunk[chunk.length - 2]!, chunk[chunk.length - 1]!] : [this.last2[1], chunk[0]!];
    if (parts.length === 0) return chunk;
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
  }

  /** The terminator; a CRLF first when the content did not end with one (so the exact
   *  bytes of a message not ending in CRLF cannot round-trip; stored mail always does). */
  end(): Buffer {
    const endsCrlf = this.last2[0] === CR && this.last2[1] === LF;
    return Buffer.from(endsCrlf ? '.\r\n' : '\r\n.\r\n');
  }
}

/**
 * RFC 1939 §7 TOP: the header, the blank line after it and the first `bodyLines` lines of
 * the body, chunk by chunk. `done` turns true once nothing more is needed, so the caller
 * stops reading the message from storage.
 */
export class TopLimiter {
  private inBody = false;
  private bodyLinesSeen = 0;
  private lineLen = 0; // octets of the current line so far, LF excluded
  private lastByte = -1;
  done = false;
  private readonly bodyLines: number;

  constructor(bodyLines: number) {
    this.bodyLines = bodyLines;
  }

  push(chunk: Buffer): Buffer {
    if (this.done) return Buffer.alloc(0);
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (b !== LF) {
        this.lineLen++;
        this.lastByte = b;
        continue;
      }
      const empty = this.lineLen === 0 || (this.lineLen === 1 && this.lastByte === CR);
      this.lineLen = 0;
      this.lastByte = b;
      if (!this.inBody) {
        if (empty) {
          this.inBody = true;
          if (this.bodyLines === 0) return this.finish(chunk, i);
        }
      } else if (++this.bodyLinesSeen >= this.bodyLines) {
        return this.finish(chunk, i);
      }
    }
    return chunk;
  }

  private finish(chunk: Buffer, lfAt: number): Buffer {
    this.done = true;
    return chunk.subarray(0, lfAt + 1);
  }
}
