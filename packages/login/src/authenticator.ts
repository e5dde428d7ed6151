// Mailbox logins for every protocol that takes a password (pop3, imap): mailbox lookup in PostgreSQL, Argon2id verification, and the
// cross-replica failure limits in Redis. Unknown users cost one Argon2 verification like
// known ones and get the same outcome, so neither the reply nor its timing tells them apart.
import type { Logger } from '@hopmail/service-kit';
import type pg from 'pg';
import type { FailureCounter } from './failure-counter.ts';
import { verifyPassword } from './passwords.ts';

export type AuthOutcome =
  | { ok: true; mailboxId: string; address: string }
  /** invalid: bad credentials or unknown user (indistinguishable on purpose);
   *  limited: too many recent failures for this account or address;
   *  unavailable: storage failed. */
  | { ok: false; reason: 'invalid' | 'limited' | 'unavailable' };

export interface LoginLimits {
  maxPerAccount: number;
  maxPerIp: number;
}

/**
 * Whether a login may even be tried, from the failures recorded in the window. Unknown
 * accounts are counted like real ones, so being refused says nothing about existence.
 * `null` counts (Redis unreachable) do not block: the per-connection limit and the
 * failure delay still apply.
 */
export function loginAllowed(failures: { account: number | null; ip: number | null }, limits: LoginLimits): boolean {
  if (failures.account !== null && failures.account >= limits.maxPerAccount) return false;
  if (failures.ip !== null && failures.ip >= limits.maxPerIp) return false;
  return true;
}

export interface AuthenticatorDeps {
  pool: pg.Pool;
  failures: FailureCounter;
  limits: LoginLimits;
  logger: Logger;
  /** The calling service's own event codes for these two log lines (CONVENTIONS §7). */
  events: { ratelimitUnavailable: string; authLookupFailed: string };
}

export class Authenticator {
  private readonly deps: AuthenticatorDeps;
  constructor(deps: AuthenticatorDeps) {
    this.deps = deps;
  }

  async authenticate(user: string, password: Buffer, ctx: { remoteIp: string }): Promise<AuthOutcome> {
    const { pool, failures, limits, logger, events: EVENTS } = this.deps;
    const counts = await failures.failures(user, ctx.remoteIp);
    if (counts.account === null) logger.warn({ event: EVENTS.ratelimitUnavailable, remoteIp: ctx.remoteIp }, 'Redis did not answer; login limits skipped');
    if (!loginAllowed(counts, limits)) {
      await verifyPassword(null, password); // same work as any other attempt
      await failures.record(user, ctx.remoteIp);
      return { ok: false, reason: 'limited' };
    }
    let row: { id: string; address: string; password_hash: string } | undefined;
    try {
      const r = await pool.query<{ id: string; address: string; password_hash: string }>(
        'SELECT id::text AS id, address, password_hash FROM mailboxes WHERE lower(address) = lower($1)',
        [user],
      );
      row = r.rows[0];
    } catch (err) {
      logger.error({ event: EVENTS.authLookupFailed, err }, 'mailbox lookup failed');
      return { ok: false, reason: 'unavailable' };
    }
    const ok = await verifyPassword(row?.password_hash ?? null, password);
    if (!row || !ok) {
      await failures.record(user, ctx.remoteIp);
      return { ok: false, reason: 'invalid' };
    }
    return { ok: true, mailboxId: row.id, address: row.address };
  }
}
