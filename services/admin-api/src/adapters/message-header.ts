import type { Pool } from '@hopmail/db';

/** The first `bytes` of a stored message (raw is stored uncompressed, so this reads only those). */
export function messageStart(pool: Pool, bytes: number): (id: string) => Promise<Buffer | null> {
  return async (id) => {
    const r = await pool.query<{ head: Buffer }>('SELECT substring(raw FROM 1 FOR $2) AS head FROM messages WHERE id = $1', [id, bytes]);
    return r.rows[0]?.head ?? null;
  };
}
