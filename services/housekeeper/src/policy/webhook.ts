// Webhook signing and retry timing (pure).
import { timingSafeEqual } from 'node:crypto';
import { sign } from '@hopmail/events';

export { sign, SIGNATURE_HEADER } from '@hopmail/events';

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
