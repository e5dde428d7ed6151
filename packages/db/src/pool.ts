import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

// bigint columns (ids, sizes) fit comfortably in a JS number for this schema's lifetime;
// returning numbers keeps JSON and arithmetic simple.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export function createPool(connectionString: string, max = 10, applicationName = 'hopmail'): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: applicationName, connectionTimeoutMillis: 5000 });
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
