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
}

/**
 * Finds a CR not followed by LF or an LF not preceded by CR (RFC 5321 §2.3.8: such
 * "bare" line ends are how SMTP smuggling hides a second message in the first).
 */
export function findBareLineEnding(buf: Buffer): number {
  for (let i = buf.indexOf(LF); i !== -1; i = buf.indexOf(LF, i + 1)) {
    if (i === 0 || buf[i - 1] !== CR) return i;
  }
  for (let i = buf.indexOf(CR); i !== -1; i = buf.indexOf(CR, i + 2)) {
    if (buf[i + 1] !== LF) return i;
  }
  return -1;
}

/** Length of the header section including its final CRLF (0 when the message starts with an empty line). */
export function headerSectionLength(buf: Buffer): number {
  if (buf[0] === CR && buf[1] === LF) return 0;
  const end = buf.indexOf('\r\n\r\n');
  return end === -1 ? buf.length : end + 2;
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
  return { bareLineEnding: findBareLineEnding(buf), receivedCount, messageId, eightBit: !isAscii(buf) };
}
