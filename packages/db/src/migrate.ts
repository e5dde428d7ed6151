import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { LOCKS, withAdvisoryLock } from './locks.ts';
import { withTransaction } from './pool.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

/**
 * Creates the database named in `url` when it does not exist. Safe when several
 * processes race: losing the race (42P04 duplicate_database) is success.
 */
/** Errors that mean "PostgreSQL is not up yet" (starting, restarting after initdb, not resolvable yet in compose). */
function isNotUpYet(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', '57P03'].includes(e.code ?? '') || /terminated unexpectedly|timeout expired/i.test(e.message ?? '');
}

/**
 * Waits until PostgreSQL at `url` answers (a missing database counts as up: ensureDatabase()
 * creates it). A container started beside PostgreSQL reaches it before it listens on TCP, or
 * while the image's first start restarts it after initdb; `migrate` waits instead of failing.
 */
export async function waitForPostgres(url: string, options: { timeoutMs: number; onRetry?: (err: Error, attempt: number) => void }): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.query('SELECT 1');
      return;
    } catch (err) {
      if ((err as { code?: string }).code === '3D000') return; // up, the database is missing
      if (!isNotUpYet(err) || Date.now() >= deadline) throw err;
      options.onRetry?.(err as Error, attempt);
      await new Promise((r) => setTimeout(r, Math.min(2_000, 250 * attempt)));
    } finally {
      await probe.end().catch(() => {});
    }
  }
}

export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error('DATABASE_URL names no database');
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err; // invalid_catalog_name
  } finally {
    await probe.end().catch(() => {});
  }
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } catch (err) {
    // 42P04 duplicate_database; 23505 when two CREATE DATABASE race in the catalog.
    const code = (err as { code?: string }).code;
    if (code !== '42P04' && code !== '23505') throw err;
  } finally {
    await client.end();
  }
}

/**
 * Applies every migration not yet recorded, each in its own transaction, under a
 * session advisory lock so that replicas starting together apply each exactly once.
 * Returns the versions it applied.
 */
export async function migrate(url: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const pool = new pg.Pool({ connectionString: url, application_name: 'hopmail-migrate', max: 1 });
  pool.on('error', () => {}); // the query that needed the connection reports it
  const applied: string[] = [];
  try {
    await withAdvisoryLock(
      pool,
      LOCKS.migrations,
      async (client) => {
        await client.query('SET client_min_messages = warning');
        await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
        const done = new Set((await client.query<{ version: string }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
        const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
        for (const file of files) {
          const version = file.replace(/\.sql$/, '');
          if (done.has(version)) continue;
          const sql = await readFile(new URL(file, `file://${dir.endsWith('/') ? dir : dir + '/'}`), 'utf8');
          try {
            await withTransaction(client, async (tx) => {
              await tx.query(sql);
              await tx.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
            });
          } catch (err) {
            throw new Error(`migration ${file} failed: ${(err as Error).message}`, { cause: err });
          }
          applied.push(version);
        }
      },
      { wait: true },
    );
  } finally {
    await pool.end();
  }
  return applied;
}
