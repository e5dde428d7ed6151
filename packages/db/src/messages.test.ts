import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newMessageId } from '@hopmail/mail';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { insertMessage } from './messages.ts';
import pg from 'pg';
import { baseUrls, uniqueName } from '@hopmail/test-kit';
import { ensureDatabase, migrate } from './migrate.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('insertMessage', () => {
  it('stores the raw bytes and one queued row per distinct recipient (domain in any case, local part exact)', async () => {
    const id = newMessageId();
    const raw = Buffer.from('Subject: x\r\n\r\n\u00ff body\r\n', 'latin1');
    await insertMessage(db.pool, { id, raw, mailFrom: 'a@x.org', recipients: ['B@Example.org', 'B@example.ORG', 'b@example.org', 'c@other.net'] });
    const m = await db.pool.query('SELECT raw, size FROM messages WHERE id = $1', [id]);
    expect(Buffer.compare(m.rows[0].raw, raw)).toBe(0);
    expect(m.rows[0].size).toBe(raw.length);
    const r = await db.pool.query('SELECT address, domain, status FROM recipients WHERE message_id = $1 ORDER BY id', [id]);
    expect(r.rows).toEqual([
      { address: 'B@Example.org', domain: 'example.org', status: 'queued' },
      { address: 'b@example.org', domain: 'example.org', status: 'queued' },
      { address: 'c@other.net', domain: 'other.net', status: 'queued' },
    ]);
  });
});

describe('messages storage (migration 0035)', () => {
  it('keeps a body that fits in a page in the row (no TOAST lookup to read it) and moves a larger one out of line', async () => {
    const toast = (await db.pool.query<{ t: string }>(`SELECT reltoastrelid::regclass::text AS t FROM pg_class WHERE oid = 'messages'::regclass`)).rows[0]!.t;
    const outOfLine = async () => (await db.pool.query<{ values: number; octets: number }>(`SELECT count(DISTINCT chunk_id)::int AS values, coalesce(sum(length(chunk_data)), 0)::int AS octets FROM ${toast}`)).rows[0]!;
    const before = await outOfLine();
    const bodies = [2_500, 4_096, 7_900, 20_000].map((n, i) => Buffer.alloc(n, 0x41 + i));
    const ids = bodies.map(() => newMessageId());
    for (const [i, raw] of bodies.entries()) await insertMessage(db.pool, { id: ids[i]!, raw, mailFrom: 'a@x.org', recipients: ['b@example.org'] });
    const after = await outOfLine();
    // Only the 20,000-octet body is in the TOAST table; the default target (about 2 KiB) put all four there.
    expect({ values: after.values - before.values, octets: after.octets - before.octets }).toEqual({ values: 1, octets: 20_000 });
    for (const [i, raw] of bodies.entries()) {
      const m = await db.pool.query<{ raw: Buffer }>('SELECT raw FROM messages WHERE id = $1', [ids[i]]);
      expect(Buffer.compare(m.rows[0]!.raw, raw)).toBe(0);
    }
  });
});

describe('migrate', () => {
  it('creates the database and applies each migration once when replicas race', async () => {
    const url = new URL(baseUrls().databaseUrl);
    url.pathname = '/' + uniqueName('hm_mig');
    await Promise.all([ensureDatabase(url.toString()), ensureDatabase(url.toString())]);
    const results = await Promise.all([migrate(url.toString()), migrate(url.toString()), migrate(url.toString())]);
    const all = results.flat();
    expect(all.length).toBeGreaterThan(0);
    expect(new Set(all).size).toBe(all.length);
    expect(await migrate(url.toString())).toEqual([]);
    const admin = new pg.Client({ connectionString: baseUrls().databaseUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE ${url.pathname.slice(1)} WITH (FORCE)`);
    await admin.end();
  });
});
