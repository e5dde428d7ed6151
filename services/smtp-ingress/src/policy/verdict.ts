// What a policy function decides about one SMTP step (CONVENTIONS §4). Hooks turn a
// verdict into smtp-server's callback; policies never see sockets.

export type Verdict =
  | { kind: 'accept' }
  /** 5xx: do not try again. */
  | { kind: 'reject'; code: number; enhanced: string; text: string; reason: string }
  /** 4xx: try again later. */
  | { kind: 'defer'; code: number; enhanced: string; text: string; reason: string }
  /** 421: refuse and close the connection. */
  | { kind: 'disconnect'; code: 421; enhanced: string; text: string; reason: string };

/** Any verdict but accept: what a refused step answers. */
export type Refusal = Exclude<Verdict, { kind: 'accept' }>;

export const ACCEPT: Verdict = { kind: 'accept' };

export const reject = (code: number, enhanced: string, text: string, reason: string): Refusal => ({ kind: 'reject', code, enhanced, text, reason });
export const defer = (code: number, enhanced: string, text: string, reason: string): Refusal => ({ kind: 'defer', code, enhanced, text, reason });
export const disconnect = (enhanced: string, text: string, reason: string): Refusal => ({ kind: 'disconnect', code: 421, enhanced, text, reason });

/** The reply line (after the code) of a non-accept verdict. */
export function replyText(v: Refusal): string {
  return `${v.enhanced} ${v.text}`;
}
