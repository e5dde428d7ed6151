import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// bigint columns (ids, sizes) fit comfortably in a JS number for this schema's lifetime;
// returning numbers keeps JSON and arithmetic simple.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/**
 * plan_cache_mode=force_custom_plan: the hot statements are prepared (named), and PostgreSQL
 * would otherwise settle on a generic plan after five runs, made for the table sizes of that
 * moment. On a new installation, or in a burst after start, the tables grow far faster than
 * autovacuum analyses them, and a generic plan made while they were small (a sequential scan
 * of `messages` for `id = ANY($1)`) stays for the life of the connection. A custom plan sees
 * each run's parameters and the tables' current size; planning costs far less than a round trip.
 */
export function createPool(connectionString: string, max = 10, applicationName = 'hopmail'): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: applicationName, connectionTimeoutMillis: 5000, options: '-c plan_cache_mode=force_custom_plan' });
  // An idle client losing its connection (PostgreSQL restart) must not crash the process;
  // the next query gets a fresh connection.
  pool.on('error', () => {});
  return pool;
}

/** Runs `fn` in a transaction, rolling back on any error. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

export async function ping(pool: pg.Pool): Promise<void> {
  await pool.query('SELECT 1');
}
