// What smtp-ingress needs to know about a message's bytes, found in one pass over
// the header section and native indexOf scans over the rest (the hot path: no copies).

import { isAscii } from 'node:buffer';

const CR = 0x0d;
const LF = 0x0a;
/** Header sections larger than this are only inspected up to here (loop detection, Message-ID). */
const MAX_HEADER_SCAN = 1024 * 1024;
/** RFC 5322 §2.1.1 line limit; a longer Message-ID is not worth recording. */
const MAX_MESSAGE_ID = 998;

export interface MessageScan {
  /** Offset of the first CR or LF that is not part of a CRLF pair, or -1. */
  bareLineEnding: number;
  /** Number of `Received:` header fields in the header section. */
  receivedCount: number;
  /** The Message-ID header field's value, unfolded and trimmed, or null. */
  messageId: string | null;
  /** Any octet above 127 (RFC 6152 8-bit data). */
  eightBit: boolean;
  /** Offset of a NUL octet, or of a line that is only control octets and "." (a hidden end of data), or -1. */
  hiddenTerminator: number;
}

/** A CR not followed by LF, or an LF not preceded by CR. */
const BARE_LINE_ENDING = /\r(?!\n)|(?<!\r)\n/g;
/** Octets looked at per regular-expression scan (each is copied into a latin1 string first). */
const BARE_SCAN_WINDOW = 65_536;

/**
 * The offset of the first CR not followed by LF or LF not preceded by CR (RFC 5321 §2.3.8:
 * such "bare" line ends are how SMTP smuggling hides a second message in the first), or -1.
 * One regular-expression scan per 64 KiB window, as latin1 text (an octet per character),
 * with an octet of the next and the previous window on either side so that a CRLF across
 * the edge is seen whole: about 2.5 times faster than an indexOf() call per line end, and
 * only a window's worth of string whatever the message size.
 */
export function findBareLineEnding(buf: Buffer): number {
  for (let from = 0; from < buf.length; from += BARE_SCAN_WINDOW) {
    const start = from === 0 ? 0 : from - 1;
    const text = buf.toString('latin1', start, Math.min(buf.length, from + BARE_SCAN_WINDOW + 1));
    BARE_LINE_ENDING.lastIndex = from - start;
    const m = BARE_LINE_ENDING.exec(text);
    // A match on the octet after the window is the next window's to judge (its LF may follow).
    if (m && m.index < from - start + BARE_SCAN_WINDOW) return start + m.index;
  }
  return -1;
}

/** C0 controls other than TAB, CR and LF, and DEL: octets some servers drop before they look for "." lines. */
const isInvisibleControl = (b: number) => (b < 0x20 && b !== 0x09 && b !== CR && b !== LF) || b === 0x7f;

/**
 * The offset of a NUL anywhere (RFC 5321 §4.5.2 and RFC 6152: not allowed in 7-bit or
 * 8-bit mail), or of a line made of control octets and a single "." (`\0.`, `\x0b.`,
 * `\x7f.`): a server or filter that strips such octets sees the end of data there, and
 * what we relayed after it would run as commands or become a second message (smuggling
 * one hop further on). -1 when there is none. Native scans; normal text costs one look
 * back per line that ends in ".".
 */
export function findHiddenTerminator(buf: Buffer): number {
  const nul = buf.indexOf(0);
  if (nul !== -1) return nul;
  for (let i = buf.indexOf('.\r\n'); i !== -1; i = buf.indexOf('.\r\n', i + 3)) {
    let j = i - 1;
    while (j >= 0 && isInvisibleControl(buf[j]!)) j--;
    // At least one control octet, and then the start of the line.
    if (j < i - 1 && (j < 0 || buf[j] === LF)) return j + 1;
  }
  return -1;
}

/** Length of the header section including its final CRLF (0 when the message starts with an empty line). */
export function headerSectionLength(buf: Buffer): number {
  if (buf[0] === CR && buf[1] === LF) return 0;
  const end = buf.indexOf('\r\n\r\n');
  return end === -1 ? buf.length : end + 2;
}

/**
 * An `X-Spam-Flag: YES` field in the header section (any case, folded or not): a message
 * routing files in \Junk (DMARC quarantine and rspamd put one on top; an upstream filter may
 * have). The same test as the delivery trigger's on the stored header (migrations 0021, 0025).
 */
export function spamFlagged(buf: Buffer): boolean {
  const header = buf.toString('latin1', 0, headerSectionLength(buf));
  if (!/x-spam-flag/i.test(header)) return false;
  return /(?:^|\n)x-spam-flag[ \t]*:[ \t]*yes(?![a-z0-9_])/i.test(header.replace(/\r?\n[ \t]+/g, ' '));
}

export function scanMessage(buf: Buffer): MessageScan {
  const headerLength = Math.min(headerSectionLength(buf), MAX_HEADER_SCAN);
  const header = buf.toString('utf8', 0, headerLength);
  let receivedCount = 0;
  const received = /^received[ \t]*:/gim;
  while (received.exec(header)) receivedCount++;
  const mid = /^message-id[ \t]*:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)/im.exec(header);
  let messageId: string | null = null;
  if (mid) {
    const v = mid[1]!.replace(/\r\n/g, '').trim();
    if (v && v.length <= MAX_MESSAGE_ID) messageId = v;
  }
  return { bareLineEnding: findBareLineEnding(buf), receivedCount, messageId, eightBit: !isAscii(buf), hiddenTerminator: findHiddenTerminator(buf) };
}
