// Backend.authenticate: mailbox lookup in PostgreSQL, Argon2id verification, and the
// cross-replica failure limits in Redis. Unknown users cost one Argon2 verification like
// known ones and get the same outcome, so neither the reply nor its timing tells them apart.
import type { Logger } from '@hopmail/service-kit';
import type pg from 'pg';
import { EVENTS } from '../events.ts';
import type { AuthOutcome } from '../protocol/backend.ts';
import { loginAllowed, type LoginLimits } from '../policy/limits.ts';
import type { FailureCounter } from './failure-counter.ts';
import { verifyPassword } from './passwords.ts';

export interface AuthenticatorDeps {
  pool: pg.Pool;
  failures: FailureCounter;
  limits: LoginLimits;
  logger: Logger;
}

export class Authenticator {
  private readonly deps: AuthenticatorDeps;
  constructor(deps: AuthenticatorDeps) {
    this.deps = deps;
  }

  async authenticate(user: string, password: Buffer, ctx: { remoteIp: string }): Promise<AuthOutcome> {
    const { pool, failures, limits, logger } = this.deps;
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
