// Webhook signing and retry timing (pure).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'hopmail-signature';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` — the timestamp is signed
 * with the body so a receiver can refuse replays older than a few minutes.
 */
export function sign(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** What a receiver does: true when the header matches the body and is recent enough. */
export function verify(secret: string, body: string, header: string, nowSeconds: number, toleranceS = 300): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowSeconds - t) > toleranceS) return false;
  const want = Buffer.from(sign(secret, body, t).slice(-64), 'hex');
  return timingSafeEqual(want, Buffer.from(m[2]!, 'hex'));
}

/** Delay before try number `attempt + 1` after `attempt` failed tries; null: give up. */
export function retryDelay(attempt: number, o: { minMs: number; maxMs: number; maxAttempts: number }): number | null {
  if (attempt >= o.maxAttempts) return null;
  return Math.min(o.maxMs, o.minMs * 2 ** Math.max(0, attempt - 1));
}
