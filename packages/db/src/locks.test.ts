// Advisory locks and transactions against a real PostgreSQL: one replica at a time, the
// others skip; rollbacks leave nothing behind; a lock dies with its connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { LOCKS, tryAdvisoryLock, withAdvisoryLock } from './locks.ts';
import { rollback, withTransaction } from './pool.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('CREATE TABLE lock_test (v int)');
});
afterAll(async () => {
  await db.drop();
});

const KEY = 0x74657374; // "test"
const count = async () => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM lock_test')).rows[0]!.n;

describe('LOCKS', () => {
  it('every key is distinct', () => {
    const keys = Object.values(LOCKS);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('withAdvisoryLock', () => {
  it('runs fn while holding the session lock; another session skips meanwhile (null, fn not run)', async () => {
    let inner: unknown = 'unset';
    const outer = await withAdvisoryLock(db.pool, KEY, async () => {
      inner = await withAdvisoryLock(db.pool, KEY, async () => 'ran');
      return 'outer';
    });
    expect(outer).toBe('outer');
    expect(inner).toBeNull();
    // Released afterwards.
    expect(await withAdvisoryLock(db.pool, KEY, async () => 'again')).toBe('again');
  });

  it('releases the lock when fn throws, and rethrows', async () => {
    await expect(withAdvisoryLock(db.pool, KEY, async () => Promise.reject(new Error('pass failed')))).rejects.toThrow('pass failed');
    expect(await withAdvisoryLock(db.pool, KEY, async () => 1)).toBe(1);
  });

  it('transaction scope: fn runs in one transaction holding the lock until COMMIT', async () => {
    let skipped: unknown = 'unset';
    await withAdvisoryLock(
      db.pool,
      KEY,
      async (c) => {
        await c.query('INSERT INTO lock_test VALUES (1)');
        skipped = await withAdvisoryLock(db.pool, KEY, async () => 'ran', { scope: 'transaction' });
        // Not committed yet: invisible to other sessions.
        expect(await count()).toBe(0);
      },
      { scope: 'transaction' },
    );
    expect(skipped).toBeNull();
    expect(await count()).toBe(1);
    await db.pool.query('DELETE FROM lock_test');
  });

  it('wait: the second caller waits for the holder instead of skipping', async () => {
    const order: string[] = [];
    let release: () => void = () => {};
    const first = withAdvisoryLock(db.pool, KEY, async () => {
      order.push('first');
      await new Promise<void>((r) => (release = r));
      order.push('first done');
    });
    await new Promise((r) => setTimeout(r, 50));
    const second = withAdvisoryLock(db.pool, KEY, async () => void order.push('second'), { wait: true });
    await new Promise((r) => setTimeout(r, 50));
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'first done', 'second']);
  });

  it('two-int keys (a namespace and an id) are locks of their own; the lock goes with the connection', async () => {
    const a = await db.pool.connect();
    const b = await db.pool.connect();
    try {
      expect(await tryAdvisoryLock(a, [LOCKS.pop3Maildrop, 7])).toBe(true);
      expect(await tryAdvisoryLock(b, [LOCKS.pop3Maildrop, 7])).toBe(false);
      expect(await tryAdvisoryLock(b, [LOCKS.pop3Maildrop, 8])).toBe(true);
      a.release(new Error('drop this connection'));
      // PostgreSQL ends that session (and drops its locks) once it sees the socket close.
      expect(await waitFor(() => tryAdvisoryLock(b, [LOCKS.pop3Maildrop, 7]), { what: 'the lock of the closed session' })).toBe(true);
    } finally {
      b.release(new Error('drop this connection too'));
    }
  });
});

describe('withTransaction', () => {
  it('commits what fn did, or rolls back everything when it throws', async () => {
    await withTransaction(db.pool, async (c) => void (await c.query('INSERT INTO lock_test VALUES (1)')));
    await expect(
      withTransaction(db.pool, async (c) => {
        await c.query('INSERT INTO lock_test VALUES (2)');
        throw new Error('half way');
      }),
    ).rejects.toThrow('half way');
    expect(await count()).toBe(1);
    await db.pool.query('DELETE FROM lock_test');
  });

  it('rollback(value) ends the transaction without committing and resolves with value', async () => {
    const r = await withTransaction(db.pool, async (c) => {
      await c.query('INSERT INTO lock_test VALUES (3)');
      return rollback('nothing to do');
    });
    expect(r).toBe('nothing to do');
    expect(await count()).toBe(0);
  });

  it('on a client already held, runs on that client (one connection, several transactions)', async () => {
    const c = await db.pool.connect();
    try {
      const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const inner = await withTransaction(c, async (tx) => (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
      expect(inner).toBe(pid);
    } finally {
      c.release();
    }
  });
});
