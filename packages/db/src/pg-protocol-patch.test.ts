// patches/pg-protocol@1.16.1.patch: a Bind message makes room for all of its Buffer values at
// once, instead of growing the writer by half again each time one does not fit (a group commit
// of 100 KiB messages was copied two or three times over, 370–440 → 150–165 µs per 1 MiB Bind).
// The values must still arrive exactly: large and empty Buffers, NULLs and multi-byte text in
// one statement, on a named (prepared) statement and on an unnamed one.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

describe('pg-protocol Bind (patched)', () => {
  it('is the patched serializer that pg loads', () => {
    const require = createRequire(import.meta.url);
    const fromPg = createRequire(require.resolve('pg'));
    const serializer = readFileSync(`${dirname(fromPg.resolve('pg-protocol'))}/serializer.js`, 'utf8');
    expect(serializer).toContain('hopmail patch');
  });

  it('sends large and empty Buffers, NULLs and multi-byte text byte for byte', async () => {
    const big = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
    const values = [big(300_000, 1), 'é漢字 text', null, Buffer.alloc(0), big(102_400, 2), big(65_535, 3), null, 'x'.repeat(70_000), big(1, 4)];
    const sql = `SELECT ${values.map((v, i) => (typeof v === 'string' ? `md5($${i + 1}::text)` : `md5($${i + 1}::bytea)`)).join(', ')}`;
    const expected = values.map((v) => (v === null ? null : md5(v)));
    for (const name of ['hopmail-bind-test', undefined]) {
      for (let round = 0; round < 2; round++) {
        const r = await db.pool.query({ name, text: sql, values, rowMode: 'array' });
        expect(r.rows[0]).toEqual(expected);
      }
    }
  });
});
