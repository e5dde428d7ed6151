// RFC 1939 §3: multi-line responses byte-stuff every line that begins with "." and end
// with CRLF "." CRLF. Stuffing works chunk by chunk, so a line that begins in the next
// chunk is still seen as a line start. Every line ends in CRLF on the wire: a bare LF or a
// bare CR in a stored message is sent as CRLF (a bare LF followed by "." would otherwise let
// an LF-splitting client see an early terminator, and RFC 1939 §3 lines end in CRLF). Mail
// the ingress stores is CRLF already (it refuses bare line endings, 550 5.6.0), so for it
// the client's un-stuffed bytes are exactly the stored ones and the "+OK n octets" of
// RETR/LIST is exact; the normalisation is a guarantee for anything else in the store.

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const DOT_BUF = Buffer.from('.');
const CR_BUF = Buffer.from('\r');

/** True when `chunk` (which does not end in CR) has a CR not followed by LF, or an LF not preceded by CR. */
function hasBareLineEnding(chunk: Buffer, prevByte: number): boolean {
  for (let i = chunk.indexOf(CR); i >= 0; i = chunk.indexOf(CR, i + 1)) if (chunk[i + 1] !== LF) return true;
  for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) if ((i > 0 ? chunk[i - 1] : prevByte) !== CR) return true;
  return false;
}

/** Every bare CR and bare LF of `chunk` as CRLF (the slow path; stored mail never takes it). */
function toCrlf(chunk: Buffer, prevByte: number): Buffer {
  const out = Buffer.allocUnsafe(chunk.length * 2);
  let o = 0;
  for (let i = 0; i < chunk.length; i++) {
    const b = chunk[i]!;
    if (b === CR) {
      out[o++] = CR;
      out[o++] = LF;
      if (chunk[i + 1] === LF) i++;
    } else if (b === LF) {
      if ((i > 0 ? chunk[i - 1] : prevByte) !== CR) out[o++] = CR;
      out[o++] = LF;
    } else out[o++] = b;
  }
  return out.subarray(0, o);
}

export class DotStuffer {
  private atLineStart = true;
  /** The last byte sent (-1 before any). */
  private prevByte = -1;
  /** A CR that ended the previous chunk: whether it is bare depends on the next byte. */
  private heldCr = false;

  push(input: Buffer): Buffer {
    let chunk = input;
    if (this.heldCr) {
      chunk = Buffer.concat([CR_BUF, chunk]);
      this.heldCr = false;
    }
    if (chunk.length > 0 && chunk[chunk.length - 1] === CR) {
      this.heldCr = true;
      chunk = chunk.subarray(0, chunk.length - 1);
    }
    if (chunk.length === 0) return chunk;
    if (hasBareLineEnding(chunk, this.prevByte)) chunk = toCrlf(chunk, this.prevByte);
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
    this.prevByte = chunk[chunk.length - 1]!;
    this.atLineStart = this.prevByte === LF;
    if (parts.length === 0) return chunk;
    parts.push(chunk.subarray(from));
    return Buffer.concat(parts);
  }

  /** The terminator; a CRLF first when the content did not end with one (a held bare CR
   *  becomes that CRLF; the exact bytes of a message not ending in CRLF cannot round-trip,
   *  stored mail always ends in CRLF). */
  end(): Buffer {
    if (this.heldCr) return Buffer.from('\r\n.\r\n');
    return Buffer.from(this.prevByte === LF ? '.\r\n' : '\r\n.\r\n');
  }
}

/**
 * A whole multi-line reply in one buffer and one pass over the message: `head` (the status
 * line), `body` stuffed, and the terminator. For a message already in memory; the same bytes
 * DotStuffer sends. Null when `body` has a bare CR or LF, or is empty: DotStuffer takes those.
 */
export function stuffWhole(head: Buffer, body: Buffer): Buffer | null {
  const n = body.length;
  if (n === 0) return null;
  // One regular-expression scan of the message as a latin1 string finds both what sends it to
  // the normalising path (a bare CR or LF) and every line starting with '.': a few times
  // cheaper than indexOf() per line end, which is the hot spot of RETR from memory.
  const text = body.toString('latin1');
  const dots: number[] = text.charCodeAt(0) === DOT ? [0] : [];
  LINE_MARKS.lastIndex = 0;
  for (let m = LINE_MARKS.exec(text); m !== null; m = LINE_MARKS.exec(text)) {
    if (m[0] !== '\n.') return null;
    dots.push(m.index + 1);
  }
  const tail = text.charCodeAt(n - 1) === LF ? TERMINATOR : CRLF_TERMINATOR;
  const out = allocate(head.length + n + dots.length + tail.length);
  let o = head.copy(out, 0);
  let from = 0;
  for (const at of dots) {
    o += body.copy(out, o, from, at);
    out[o++] = DOT;
    from = at;
  }
  o += body.copy(out, o, from, n);
  tail.copy(out, o);
  return out;
}

// Replies are cut from shared slabs, as Node's own Buffer pool does for small buffers (which
// stops at 4 KiB): one ArrayBuffer per slab rather than per message, because every
// ArrayBuffer counts as external memory and enough of them set off V8's full collections.
// A slab is never written twice, so a reply still queued on a slow socket stays intact (and
// keeps its slab alive until sent).
const SLAB_BYTES = 128 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

function allocate(size: number): Buffer {
  if (size > SLAB_BYTES / 8) return Buffer.allocUnsafe(size);
  if (slabUsed + size > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + size);
  slabUsed += size;
  return b;
}

/** A bare CR, a bare LF, or a line starting with '.' (after a CRLF: a bare LF matches first). */
const LINE_MARKS = /\r(?!\n)|(?<!\r)\n|\n\./g;
const TERMINATOR = Buffer.from('.\r\n');
const CRLF_TERMINATOR = Buffer.from('\r\n.\r\n');

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
