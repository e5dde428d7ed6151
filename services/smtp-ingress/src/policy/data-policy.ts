import type { MessageScan } from '../protocol/message.ts';
import { ACCEPT, defer, reject, type Refusal, type Verdict } from './verdict.ts';

/** RFC 1870 §6.1: the message is larger than the SIZE we advertised. */
export const tooBig = (maxSize: number): Refusal => reject(552, '5.3.4', `Message size exceeds fixed limit of ${maxSize} bytes`, 'too-big');

/** The connection closed before the final dot: nothing is stored (the reply reaches nobody). */
export const ABORTED: Refusal = defer(451, '4.4.2', 'Connection lost during DATA', 'aborted');

export interface DataPolicyInput {
  /** The client sent more than SMTP_MAX_MESSAGE_SIZE octets (smtp-server counted them). */
  sizeExceeded: boolean;
  maxSize: number;
  /** Null when the size was exceeded: the bytes were not kept. */
  scan: MessageScan | null;
  maxReceived: number;
  /** BODY=BINARYMIME (RFC 3030 §3): the body is octets, not lines, so CR, LF and NUL are content. */
  binary?: boolean;
}

/** The message as received, before anything is stored. */
export function dataPolicy(i: DataPolicyInput): Verdict {
  if (i.sizeExceeded || !i.scan) return tooBig(i.maxSize);
  // Decided: reject rather than normalise. A bare CR or LF is what SMTP smuggling needs
  // (a second message hidden behind "\n.\n" for a server that ends DATA there); no
  // compliant client sends one (RFC 5321 §2.3.8), so refusing costs legitimate mail nothing.
  // A BINARYMIME body is octets, sent only with BDAT (no dot, no terminator to hide) and
  // relayed only with BDAT (outbound-relay bounces it to a hop without BINARYMIME).
  if (!i.binary && i.scan.bareLineEnding !== -1) return reject(550, '5.6.0', 'Message contains bare CR or LF line endings (RFC 5321 section 2.3.8); send CRLF only', 'bare-line-ending');
  // Decided: refuse rather than normalise (nothing is silently altered). A NUL, or a line of
  // control octets and ".", is a hidden end of data for a server that strips such octets.
  if (!i.binary && i.scan.hiddenTerminator !== -1) return reject(554, '5.6.0', 'Message contains NUL or control characters before a "." line; not accepted', 'hidden-terminator');
  // RFC 5321 §6.3: a message that has been relayed this often is looping.
  if (i.scan.receivedCount > i.maxReceived) return reject(554, '5.4.6', `Too many Received: headers (${i.scan.receivedCount}), mail loop`, 'mail-loop');
  return ACCEPT;
}
