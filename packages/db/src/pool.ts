import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** What a transaction or a lock can run on: a pool (a connection is taken and released) or a client already held. */
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;

// bigint columns (ids, sizes) fit comfortably in a JS number for this schema's lifetime;
// returning numbers keeps JSON and arithmetic simple.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * Session settings under which a prepared statement's plan is made once per connection and
 * kept: a generic plan always (no re-planning per execution), with sequential scans, hash
 * joins and merge joins switched off, so the only plans left for key lookups are index
 * lookups in nested loops, right at any table size with or without statistics (a plan made
 * while the tables were small no longer means a sequential scan kept for ever). For a pool
 * whose statements are all key lookups (routing's); the trace and usage triggers of migration
 * 0028 switch off the same three plan types for their own queries.
 */
export const INDEX_PLANS: Readonly<Record<string, string>> = {
  plan_cache_mode: 'force_generic_plan',
  enable_seqscan: 'off',
  enable_hashjoin: 'off',
  enable_mergejoin: 'off',
};

/** `settings`: session settings of every connection (INDEX_PLANS), set before its first query. */
export function createPool(connectionString: string, max = 10, applicationName = 'hopmail', settings: Readonly<Record<string, string>> = {}): pg.Pool {
  const set = Object.entries(settings);
  const text = `SELECT ${set.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, false)`).join(', ')}`;
  const pool = new pg.Pool({
    connectionString,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5000,
    // Set on each new connection before the pool hands it out (awaited; a connection where
    // they fail is closed and the caller gets the error). Not as the startup `options`: those
    // of a DATABASE_URL would replace them.
    ...(set.length > 0
      ? {
          onConnect: async (client: pg.ClientBase) => {
            await client.query(text, set.flat());
          },
        }
      : {}),
  });
  // An idle client losing its connection (PostgreSQL restart) must not crash the process;
  // the next query gets a fresh connection.
  pool.on('error', () => {});
  return pool;
}

/**
 * The one BEGIN … COMMIT of the repository. With a pool, `fn` runs on a connection of its
 * own that is released afterwards; with a client (one that holds a session advisory lock, a
 * dedicated connection) on that client. Any error rolls back and is rethrown. `fn` may
 * return `rollback(value)` to end the transaction without committing (nothing to do).
 */
export async function withTransaction<T>(db: Queryable, fn: (client: pg.PoolClient) => Promise<T | Rollback<T>>): Promise<T> {
  if (!isPool(db)) return inTransaction(db as pg.PoolClient, fn);
  const client = await db.connect();
  let broken: Error | undefined;
  try {
    return await inTransaction(client, fn, (err) => (broken = err));
  } finally {
    // A connection whose ROLLBACK failed is in an unknown state: drop it rather than reuse it.
    client.release(broken);
  }
}

// A client (pooled or not) has no pool counters.
const isPool = (db: Queryable): db is pg.Pool => 'totalCount' in db;

const ROLLBACK = Symbol('rollback');
export interface Rollback<T> {
  readonly [ROLLBACK]: true;
  readonly value: T;
}
/** Returned from a withTransaction callback: roll back (nothing to commit) and resolve with `value`. */
export function rollback<T>(value: T): Rollback<T> {
  return { [ROLLBACK]: true, value };
}
const isRollback = <T>(x: unknown): x is Rollback<T> => typeof x === 'object' && x !== null && ROLLBACK in x;

async function inTransaction<T>(client: pg.PoolClient, fn: (client: pg.PoolClient) => Promise<T | Rollback<T>>, onBroken?: (err: Error) => void): Promise<T> {
  await client.query('BEGIN');
  let result: T | Rollback<T>;
  try {
    result = await fn(client);
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => onBroken?.(e));
    throw err;
  }
  if (isRollback<T>(result)) {
    await client.query('ROLLBACK');
    return result.value;
  }
  try {
    await client.query('COMMIT');
  } catch (err) {
    onBroken?.(err as Error);
    throw err;
  }
  return result;
}

export async function ping(pool: pg.Pool): Promise<void> {
  await pool.query('SELECT 1');
}
