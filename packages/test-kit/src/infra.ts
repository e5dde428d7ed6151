// Per-test-file isolation on shared PostgreSQL and Redis. Base URLs come from
// DATABASE_URL / REDIS_URL (CI, this machine) or from the containers that
// global-setup.ts starts with testcontainers (a laptop with Docker).

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { migrate, createPool, type Pool } from '@hopmail/db';

export function baseUrls(): { databaseUrl: string; redisUrl: string } {
  const databaseUrl = process.env.HOPMAIL_TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  const redisUrl = process.env.HOPMAIL_TEST_REDIS_URL ?? process.env.REDIS_URL;
  if (!databaseUrl || !redisUrl) throw new Error('test infrastructure missing: set DATABASE_URL and REDIS_URL, or run under vitest (global setup starts containers)');
  return { databaseUrl, redisUrl };
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = new URL(baseUrls().databaseUrl);
  const name = uniqueName('hm_test');
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base.toString());
  url.pathname = '/' + name;
  await migrate(url.toString());
  const pool = createPool(url.toString(), 5, 'hopmail-test');
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      const c = new pg.Client({ connectionString: base.toString() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await c.end();
    },
  };
}

/** A Redis key prefix no other test run shares. */
export function redisPrefix(): string {
  return uniqueName('hmt');
}

/** A TCP port that was free a moment ago (for services that must be told a port). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.once('error', reject);
    s.listen(0, host, () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false | null>, options: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}
