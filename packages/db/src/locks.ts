// PostgreSQL advisory locks: how one replica at a time runs a pass (reconciler, relay
// scheduler, housekeeping, the event publisher), how migrations apply once, and how a POP3
// session holds its maildrop. Every key lives in LOCKS so that two uses can never collide.
import pg from 'pg';
import { rollback, withTransaction } from './pool.ts';

/** Every advisory-lock key of Hopmail, in one table (any constant works if every replica agrees). */
export const LOCKS = {
  /** Migrations: applied once when replicas start together (blocking session lock). */
  migrations: 0x686f706d, // "hopm"
  /** routing's reconciler pass. */
  reconciler: 0x68726563, // "hrec"
  /** outbound-relay's scheduler pass (due rows → deliver-remote jobs, owed DSNs → send-dsn jobs). */
  relayScheduler: 0x686d7273, // "hmrs"
  /** housekeeper's retention pass. */
  housekeeping: 0x686d686b, // "hmhk"
  /** housekeeper's outbox publisher (trace events → Redis stream). */
  outbox: 0x686d6576, // "hmev"
  /** housekeeper's queue depth sampler (the console's overview). */
  queueSampler: 0x686d7173, // "hmqs"
  /** housekeeper's TLS-RPT report sender (RFC 8460 daily aggregate reports). */
  tlsReports: 0x686d7472, // "hmtr"
  /** pop3: first half of the two-int key (namespace, mailbox) of an exclusive maildrop (RFC 1939 §8). */
  pop3Maildrop: 0x706f7033, // "pop3"
} as const;

/** One bigint key, or the two-int form (namespace, id). */
export type LockKey = number | readonly [number, number];

const args = (key: LockKey) => (typeof key === 'number' ? { list: '$1', values: [key] } : { list: '$1, $2', values: [...key] });

/**
 * pg_try_advisory_lock (session scope: held until unlocked or the connection ends) or
 * pg_try_advisory_xact_lock (inside a transaction: released at COMMIT/ROLLBACK). Never waits.
 */
export async function tryAdvisoryLock(client: pg.PoolClient | pg.Client, key: LockKey, scope: 'session' | 'transaction' = 'session'): Promise<boolean> {
  const { list, values } = args(key);
  const fn = scope === 'session' ? 'pg_try_advisory_lock' : 'pg_try_advisory_xact_lock';
  const r = await client.query<{ ok: boolean }>(`SELECT ${fn}(${list}) AS ok`, values);
  return r.rows[0]?.ok === true;
}

/** Blocking session lock: waits for the holder (migrations). */
export async function advisoryLock(client: pg.PoolClient | pg.Client, key: LockKey): Promise<void> {
  const { list, values } = args(key);
  await client.query(`SELECT pg_advisory_lock(${list})`, values);
}

export async function advisoryUnlock(client: pg.PoolClient | pg.Client, key: LockKey): Promise<void> {
  const { list, values } = args(key);
  await client.query(`SELECT pg_advisory_unlock(${list})`, values);
}

export interface AdvisoryLockOptions {
  /**
   * `session` (default): `fn` gets a dedicated connection holding the lock, and may run any
   * number of transactions on it (withTransaction(client, …)). `transaction`: `fn` runs inside
   * one transaction that holds the lock until it commits.
   */
  scope?: 'session' | 'transaction';
  /** Wait for the holder instead of skipping (session scope only). */
  wait?: boolean;
}

/**
 * Runs `fn` while holding the advisory lock `key`. Other replicas skip rather than queue up
 * behind it: returns null, without running `fn`, when another session holds it (unless
 * `wait`). If the process dies the session ends and the lock goes with it; a connection
 * whose unlock failed is dropped, which releases it too.
 */
export async function withAdvisoryLock<T>(pool: pg.Pool, key: LockKey, fn: (client: pg.PoolClient) => Promise<T>, options: AdvisoryLockOptions = {}): Promise<T | null> {
  if (options.scope === 'transaction') {
    return withTransaction<T | null>(pool, async (client) => ((await tryAdvisoryLock(client, key, 'transaction')) ? fn(client) : rollback(null)));
  }
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    if (options.wait) await advisoryLock(client, key);
    else if (!(await tryAdvisoryLock(client, key))) return null;
    try {
      return await fn(client);
    } finally {
      await advisoryUnlock(client, key).catch((err: Error) => {
        broken = err;
      });
    }
  } catch (err) {
    broken ??= err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}

