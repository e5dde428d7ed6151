// Enhanced status codes (RFC 2034, RFC 3463) for every reply smtp-server writes.
//
// smtp-server adds enhanced codes itself, but not everywhere: replies it sends with
// `context === false` (connection limit, EHLO/HELO syntax errors, refusals from onConnect)
// and replies in the context of HELO/EHLO (e.g. "421 Server shutting down" to an EHLO)
// carry none, and its per-code defaults are wrong for some of its own texts (421 for "too
// many clients" is a policy matter, 4.7.0, not 4.4.2). Our own verdicts carry their code
// in the text. So every reply goes through `enhanceReply()`, and smtp-server is always
// told `context: false`.

const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

/** Defaults by reply code (RFC 3463 §3); for codes not listed, the class with .0.0. */
const BY_CODE: Record<number, string> = {
  211: '2.0.0',
  214: '2.0.0',
  221: '2.0.0',
  // RFC 4954 §6: 235 2.7.0 Authentication Succeeded.
  235: '2.7.0',
  250: '2.0.0',
  252: '2.1.5',
  421: '4.3.0',
  450: '4.2.1',
  451: '4.3.0',
  452: '4.3.1',
  454: '4.7.0',
  500: '5.5.2',
  501: '5.5.4',
  502: '5.5.1',
  503: '5.5.1',
  504: '5.5.4',
  530: '5.7.0',
  // RFC 4954 §6: 535 5.7.8 credentials invalid; 538 5.7.11 encryption required.
  535: '5.7.8',
  538: '5.7.11',
  550: '5.7.1',
  552: '5.3.4',
  553: '5.1.3',
  554: '5.7.1',
  555: '5.5.4',
};

/** smtp-server's `context` names for replies whose meaning the code alone does not say. */
const BY_CONTEXT: Record<string, string> = {
  MAIL_FROM_OK: '2.1.0',
  RCPT_TO_OK: '2.1.5',
  DATA_OK: '2.0.0',
  TOO_MANY_RECIPIENTS: '4.5.3',
  MAILBOX_SYNTAX_ERROR: '5.1.3',
  SENDER_SYNTAX_ERROR: '5.1.7',
  MESSAGE_TOO_BIG: '5.3.4',
  NOT_AUTHORIZED: '5.7.0',
};

/** smtp-server's own 421 texts, by what they mean. */
const BY_TEXT: { code: number; text: RegExp; enhanced: string }[] = [
  { code: 421, text: /too many connected clients/i, enhanced: '4.7.0' },
  { code: 421, text: /timeout/i, enhanced: '4.4.2' },
  { code: 421, text: /shutting down/i, enhanced: '4.3.2' },
  { code: 421, text: /too many (unrecognized|unauthenticated) commands/i, enhanced: '4.7.0' },
  { code: 421, text: /talk too soon/i, enhanced: '4.7.0' },
  { code: 421, text: /HTTP requests not allowed/i, enhanced: '4.7.0' },
];

export interface Reply {
  code: number;
  /** Text to send after the code, enhanced code included where one belongs. */
  text: string;
}

/**
 * Decides the enhanced code of one reply. `context` is what smtp-server passed to its
 * send(): false for the greeting and HELO/EHLO replies, a command name, a context name
 * from BY_CONTEXT, or undefined.
 *
 * No enhanced code on: 3xx (RFC 3463 has no class 3), the 220 greeting and the 250 reply to
 * EHLO/HELO (RFC 2034 §3: the client only learns of the extension from that reply).
 * Every other reply carries one, including errors sent before or in reply to EHLO.
 */
export function enhanceReply(code: number, text: string, context: string | false | undefined): Reply {
  if (ENHANCED_PREFIX.test(text)) return { code, text };
  if (code >= 300 && code < 400) return { code, text };
  if (code < 400 && (context === false || context === 'EHLO' || context === 'HELO' || context === 'LHLO')) return { code, text };
  return { code, text: `${enhancedFor(code, text, context)} ${text}`.trimEnd() };
}

function enhancedFor(code: number, text: string, context: string | false | undefined): string {
  for (const rule of BY_TEXT) if (rule.code === code && rule.text.test(text)) return rule.enhanced;
  if (typeof context === 'string' && BY_CONTEXT[context]) return BY_CONTEXT[context];
  return BY_CODE[code] ?? `${Math.floor(code / 100)}.0.0`;
}

/**
 * True for the replies that count towards SMTP_MAX_BAD_COMMANDS: syntax errors (500, 501,
 * 502, 504). Not 503: a pipelining client (RFC 2920) whose MAIL was refused gets one 503 per
 * RCPT it sent behind it, and that is no misbehaviour.
 */
export function isBadCommandReply(code: number): boolean {
  return code >= 500 && code <= 504 && code !== 503;
}
