// Pure decisions about connections and logins; the adapters supply the counts.
import { LOCKS } from '@hopmail/db';

export interface ConnectionLimits {
  maxTotal: number;
  maxPerIp: number;
}

export type Admission = { admit: true } | { admit: false; reason: 'server-full' | 'ip-full' };

/** Counts are those already open, not including the new connection. */
export function admitConnection(open: { total: number; fromIp: number }, limits: ConnectionLimits): Admission {
  if (open.total >= limits.maxTotal) return { admit: false, reason: 'server-full' };
  if (open.fromIp >= limits.maxPerIp) return { admit: false, reason: 'ip-full' };
  return { admit: true };
}

export { loginAllowed, type LoginLimits } from '@hopmail/login';

const UIDL_RE = /^[\x21-\x7e]{1,70}$/;

/**
 * RFC 1939 §7: a unique-id is 1–70 characters in 0x21–0x7E. The stored uidl is used
 * when it qualifies; otherwise the message id (unique, stable) stands in.
 */
export function uidlFor(stored: string, messageId: string): string {
  return UIDL_RE.test(stored) ? stored : messageId.replace(/-/g, '');
}

/** Advisory-lock key (RFC 1939 §8 exclusive maildrop access): pop3's namespace and the mailbox. */
export function maildropLockKey(mailboxId: string): [number, number] {
  // The two-int form of pg_advisory_lock: ids past 2^31 wrap, sharing a lock with another
  // mailbox at worst (a spurious [IN-USE]), never breaking exclusivity.
  const id = BigInt(mailboxId) % 4294967296n;
  return [LOCKS.pop3Maildrop, Number(BigInt.asIntN(32, id))];
}
