// Bounce classification of remote SMTP replies (CONVENTIONS §6): the rules are data, first
// match wins; without a match the reply code's class decides (RFC 5321 §4.2.1).

export type Outcome = 'delivered' | 'deferred' | 'bounced';

export interface Classification {
  outcome: Outcome;
  /** Enhanced status code (RFC 3463) for the DSN. */
  status: string;
  /** Which rule decided (for logs and tests). */
  rule: string;
}

export interface Rule {
  name: string;
  codes?: readonly number[];
  enhanced?: RegExp;
  text?: RegExp;
  outcome: Outcome;
  /** Status to report when the reply carries no enhanced code. */
  status?: string;
}

export const RULES: readonly Rule[] = [
  // RFC 5321 §4.5.3.1.10: "552 too many recipients" is historical; treat it as 452.
  { name: 'too-many-recipients-552', codes: [552], text: /too many recipients/i, outcome: 'deferred', status: '4.5.3' },
  // Greylisting servers that answer 5xx while meaning "try again" (seen in the wild).
  { name: 'greylist-5xx', codes: [550, 554], text: /greylist|try again later/i, outcome: 'deferred', status: '4.7.1' },
  // RFC 3463 says the enhanced class must agree with the reply code; a 5xx carrying 4.x.x is
  // ambiguous, and retrying is the choice that loses no mail.
  { name: 'enhanced-4xx-in-5xx', codes: [550, 551, 552, 553, 554], enhanced: /^4\./, outcome: 'deferred' },
  // 552 5.2.2 mailbox full is persistent-transient in practice (RFC 3463 §3.3 X.2.2); bounce as the sender asked the remote.
  { name: 'mailbox-full', enhanced: /^5\.2\.2$/, outcome: 'bounced' },
];

export interface Reply {
  code: number;
  enhanced?: string | undefined;
  text: string;
}

const REPLY_RE = /^(\d{3})(?:[ -](\d\.\d{1,3}\.\d{1,3}))?[ -]?([\s\S]*)$/;

/** Parses the last line of a (possibly multi-line) SMTP reply. */
export function parseReply(raw: string): Reply | undefined {
  const lines = raw.replace(/\r/g, '').split('\n').filter(Boolean);
  const last = lines[lines.length - 1];
  if (!last) return undefined;
  const m = REPLY_RE.exec(last.trim());
  if (!m) return undefined;
  return { code: Number(m[1]), enhanced: m[2], text: lines.map((l) => l.replace(/^\d{3}[ -](\d\.\d{1,3}\.\d{1,3} )?/, '')).join(' ').trim() };
}

function defaultStatus(code: number): string {
  return code >= 500 ? '5.0.0' : code >= 400 ? '4.0.0' : '2.0.0';
}

export function classify(reply: Reply | undefined, rules: readonly Rule[] = RULES): Classification {
  if (!reply) return { outcome: 'deferred', status: '4.0.0', rule: 'unparsable' };
  for (const r of rules) {
    if (r.codes && !r.codes.includes(reply.code)) continue;
    if (r.enhanced && !(reply.enhanced && r.enhanced.test(reply.enhanced))) continue;
    if (r.text && !r.text.test(reply.text)) continue;
    const raw = reply.enhanced ?? r.status ?? defaultStatus(reply.code);
    // A reply re-classified as temporary reports a 4.x.x status (RFC 3463: class 4 = persistent transient).
    return { outcome: r.outcome, status: r.outcome === 'deferred' && raw.startsWith('5') ? '4' + raw.slice(1) : raw, rule: r.name };
  }
  const cls = Math.floor(reply.code / 100);
  const enhancedOk = reply.enhanced && reply.enhanced[0] === String(cls);
  const status = enhancedOk ? reply.enhanced! : defaultStatus(reply.code);
  if (cls === 2) return { outcome: 'delivered', status, rule: 'class-2' };
  if (cls === 5) return { outcome: 'bounced', status, rule: 'class-5' };
  // 4xx, and anything odd (1xx, 3xx where a final reply belongs): retry.
  return { outcome: 'deferred', status: cls === 4 ? status : '4.0.0', rule: cls === 4 ? 'class-4' : 'unexpected-code' };
}
