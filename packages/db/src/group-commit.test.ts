import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '@hopmail/mail';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { createGroupCommitter, insertMessages } from './group-commit.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const msg = (i: number, recipients = [`u${i}@x.org`]) => ({
  id: newMessageId(),
  raw: Buffer.concat([Buffer.from(`Subject: ${i}\r\n\r\n`), Buffer.from([0, 0xff, 0x80, 0x0d, 0x0a])]),
  mailFrom: i % 2 ? '' : 'a@b.org',
  recipients,
  tls: i % 3 === 0,
});

describe('insertMessages', () => {
  it('stores several messages byte for byte with their recipients in one statement', async () => {
    const ms = [msg(1, ['A@X.org', 'A@x.ORG', 'a@x.org', 'b@y.org']), msg(2), msg(3)];
    await insertMessages(db.pool, ms);
    for (const m of ms) {
      const r = await db.pool.query('SELECT raw, size, mail_from, tls FROM messages WHERE id = $1', [m.id]);
      expect(Buffer.compare(r.rows[0].raw, m.raw)).toBe(0);
      expect(r.rows[0]).toMatchObject({ size: m.raw.length, mail_from: m.mailFrom, tls: m.tls });
    }
    const r = await db.pool.query('SELECT address, domain FROM recipients WHERE message_id = $1 ORDER BY id', [ms[0]!.id]);
    expect(r.rows).toEqual([{ address: 'A@X.org', domain: 'x.org' }, { address: 'a@x.org', domain: 'x.org' }, { address: 'b@y.org', domain: 'y.org' }]);
  });
  it('one prepared statement for every batch of up to 64 messages (the rest of its slots NULL); a larger batch has its own', async () => {
    const client = await db.pool.connect();
    try {
      const batches = [[msg(10)], [msg(11), msg(12), msg(13)], Array.from({ length: 64 }, (_, i) => msg(100 + i)), Array.from({ length: 70 }, (_, i) => msg(200 + i))];
      for (const b of batches) await insertMessages(client, b);
      const all = batches.flat();
      const stored = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [all.map((m) => m.id)]);
      expect(stored.rows[0]!.n).toBe(all.length);
      const r = await client.query<{ rcpts: number }>('SELECT count(*)::int AS rcpts FROM recipients WHERE message_id = ANY($1::uuid[])', [all.map((m) => m.id)]);
      expect(r.rows[0]!.rcpts).toBe(all.length);
      const prepared = await client.query<{ name: string }>("SELECT name FROM pg_prepared_statements WHERE name LIKE 'hopmail-insert-messages-%' ORDER BY name");
      expect(prepared.rows.map((x) => x.name)).toEqual(['hopmail-insert-messages-64', 'hopmail-insert-messages-70']);
    } finally {
      client.release();
    }
  });
});

describe('createGroupCommitter', () => {
  it('commits 300 concurrent messages, each exactly once', async () => {
    const gc = createGroupCommitter(db.pool, { maxInFlight: 2 });
    const ms = Array.from({ length: 300 }, (_, i) => msg(i));
    await Promise.all(ms.map((m) => gc.insert(m)));
    const r = await db.pool.query('SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [ms.map((m) => m.id)]);
    expect(r.rows[0].n).toBe(300);
  });

  it('batches messages of every size up to maxBatchBytes, each byte for byte, and writes a larger one alone', async () => {
    // Every octet value, at sizes around the limit; statements of 1 and of 2+ messages (the
    // latter one statement for every batch of up to 64) both carry the bytes as binary parameters.
    const big = (n: number, i: number) => ({ ...msg(i), raw: Buffer.from(Array.from({ length: n }, (_, k) => (k * 7 + i) & 0xff)) });
    const gc = createGroupCommitter(db.pool, { maxInFlight: 1, maxBatchBytes: 100 * 1024 });
    const ms = [big(100 * 1024, 1), big(100 * 1024 + 1, 2), big(3, 3), big(50_000, 4), big(100 * 1024, 5), big(1, 6)];
    let statements = 0;
    const count = () => statements++;
    db.pool.on('acquire', count);
    await Promise.all(ms.map((m) => gc.insert(m)));
    db.pool.off('acquire', count);
    for (const m of ms) {
      const r = await db.pool.query('SELECT raw FROM messages WHERE id = $1', [m.id]);
      expect(Buffer.compare(r.rows[0].raw, m.raw), `${m.raw.length} octets`).toBe(0);
    }
    // Made in one turn: the one over the limit alone, the other five together.
    expect(statements).toBe(2);
  });

  it('by default one statement at a time: the messages finishing while it is in flight wait and share the next', async () => {
    const gc = createGroupCommitter(db.pool);
    let open = 0;
    let most = 0;
    let statements = 0;
    const acquire = () => {
      statements++;
      most = Math.max(most, ++open);
    };
    const release = () => open--;
    db.pool.on('acquire', acquire).on('release', release);
    // Arriving one by one, each on a later turn of the event loop, while earlier ones commit.
    const ms = Array.from({ length: 30 }, (_, i) => msg(400 + i));
    const pending: Promise<void>[] = [];
    for (const m of ms) {
      pending.push(gc.insert(m));
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(pending);
    db.pool.off('acquire', acquire).off('release', release);
    expect(most).toBe(1);
    expect(statements).toBeLessThan(30);
    const r = await db.pool.query('SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [ms.map((m) => m.id)]);
    expect(r.rows[0].n).toBe(30);
  });

  it('a bad message in a batch fails alone; the others commit', async () => {
    const gc = createGroupCommitter(db.pool, { maxInFlight: 1 });
    const dup = msg(7);
    await gc.insert(dup);
    const others = Array.from({ length: 5 }, (_, i) => msg(100 + i));
    const results = await Promise.allSettled([gc.insert(others[0]!), gc.insert(dup), ...others.slice(1).map((m) => gc.insert(m))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const r = await db.pool.query('SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::uuid[])', [others.map((m) => m.id)]);
    expect(r.rows[0].n).toBe(5);
  });

  it('rejects every caller when the database is unreachable', async () => {
    const { createPool } = await import('./pool.ts');
    const dead = createPool('postgres://root@127.0.0.1:1/none', 2);
    const gc = createGroupCommitter(dead);
    const results = await Promise.allSettled([gc.insert(msg(1)), gc.insert(msg(2))]);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    await dead.end();
  });
});
