// patches/pg-protocol@1.16.1.patch: a Bind message makes room for all of its Buffer values at
// once, instead of growing the writer by half again each time one does not fit (a group commit
// of 100 KiB messages was copied two or three times over, 370–440 → 150–165 µs per 1 MiB Bind).
// The values must still arrive exactly: large and empty Buffers, NULLs and multi-byte text in
// one statement, on a named (prepared) statement and on an unnamed one.
// The same patch has the parser give a binary-format column's value as a Buffer (unpatched it
// decoded every value as UTF-8 text, which mangles a bytea), hand out views of the received
// bytes it then never overwrites, and complete a message that spans two chunks on its own
// instead of copying the whole next chunk behind it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { octetRows } from './octets.ts';

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

describe('pg-protocol parser (patched): binary rows', () => {
  // Row i: a bytea of n octets (every octet value, NUL and 8-bit included) and its md5 as
  // text. Lengths from none to past a socket chunk (64 KiB), mixed, so that rows span chunks
  // in every way: a header split, a row completed by the next chunk, a row over many chunks.
  const sizes = Array.from({ length: 600 }, (_, i) => (i % 50 === 7 ? 200_000 + i : i % 9 === 0 ? 0 : ((i * 7919) % 9_000) + (i % 3)));
  const sql = `SELECT i::int, substring(decode(repeat(c.hex, n / 256 + 1), 'hex') FROM 1 FOR n) AS b
                 FROM unnest($1::int[]) WITH ORDINALITY AS s(n, i),
                      LATERAL (SELECT string_agg(lpad(to_hex((i + k) % 256), 2, '0'), '' ORDER BY k) AS hex FROM generate_series(0, 255) k) c
                ORDER BY i`;
  const expected = (i: number, n: number) => Buffer.from(Array.from({ length: n }, (_, k) => (i + k) % 256));

  it('gives every bytea as a Buffer of its octets, each still intact once the whole result is in', async () => {
    const client = await db.pool.connect();
    try {
      for (const name of ['hopmail-binary-test', undefined]) {
        const r = await client.query<[Buffer, Buffer]>({ name, text: sql, values: [sizes], ...octetRows });
        expect(r.rows).toHaveLength(sizes.length);
        r.rows.forEach(([i, b], k) => {
          expect(i.readInt32BE(0)).toBe(k + 1); // an int4 in binary: four octets, big-endian
          expect(Buffer.isBuffer(b)).toBe(true);
          expect(b.equals(expected(k + 1, sizes[k]!)), `row ${k + 1} (${sizes[k]} octets)`).toBe(true);
        });
      }
    } finally {
      client.release();
    }
  });

  it('gives text in binary format as its UTF-8 octets, NULL as null, and text format as before', async () => {
    const client = await db.pool.connect();
    try {
      const text = 'é漢字 \u{1f600} text';
      const r = await client.query<[Buffer, null, Buffer]>({ text: `SELECT $1::text, NULL::bytea, '\\x00ff0d0a'::bytea`, values: [text], ...octetRows });
      expect(r.rows[0]![0].toString('utf8')).toBe(text);
      expect(r.rows[0]![1]).toBeNull();
      expect(r.rows[0]![2]).toEqual(Buffer.from([0, 0xff, 0x0d, 0x0a]));
      // Text format on the same connection, next: decoded as usual, binary forgotten.
      const t = await client.query<{ t: string; b: Buffer; n: number }>(`SELECT $1::text AS t, '\\x00ff'::bytea AS b, 7 AS n`, [text]);
      expect(t.rows[0]).toEqual({ t: text, b: Buffer.from([0, 0xff]), n: 7 });
      // A binary result cut short by an error: the next text result is text again.
      await expect(client.query({ text: 'SELECT CASE WHEN g < 300 THEN g ELSE 1 / (g - g) END FROM generate_series(1, 400) g', ...octetRows })).rejects.toThrow(/division by zero/);
      expect((await client.query<{ x: string }>(`SELECT 'after' AS x`)).rows[0]!.x).toBe('after');
    } finally {
      client.release();
    }
  });

  it('still parses text-format rows that span chunks, of every size, exactly', async () => {
    const r = await db.pool.query<{ i: number; s: string }>({
      text: `SELECT i::int, repeat(chr(65 + (i % 26)::int), n) || 'é' AS s FROM unnest($1::int[]) WITH ORDINALITY AS x(n, i) ORDER BY i`,
      values: [sizes],
    });
    r.rows.forEach(({ i, s }, k) => {
      expect(i).toBe(k + 1);
      expect(s, `row ${i}`).toBe(String.fromCharCode(65 + (i % 26)).repeat(sizes[k]!) + 'é');
    });
  });
});

describe('pg-protocol parser (patched), fed chosen chunks', () => {
  // The protocol's messages, built by hand: a RowDescription of one binary bytea column, the
  // rows, CommandComplete. Fed in chunks cut every which way (a small chunk in the middle of a
  // row after a large one is what tempts a parser to reuse its buffer in place), every value
  // must still be right after the last chunk, when everything handed out is looked at.
  const require = createRequire(import.meta.url);
  const fromPg = createRequire(require.resolve('pg'));
  const { Parser } = fromPg(`${dirname(fromPg.resolve('pg-protocol'))}/parser.js`) as { Parser: new () => { parse(b: Buffer, cb: (m: { name: string; fields?: unknown[] }) => void): void } };
  const message = (code: string, body: Buffer) => {
    const head = Buffer.alloc(5);
    head.write(code, 0, 'latin1');
    head.writeUInt32BE(body.length + 4, 1);
    return Buffer.concat([head, body]);
  };
  const int = (n: number, bytes: 2 | 4) => {
    const b = Buffer.alloc(bytes);
    if (bytes === 2) b.writeInt16BE(n);
    else b.writeInt32BE(n);
    return b;
  };
  const description = message('T', Buffer.concat([int(1, 2), Buffer.from('b\0'), int(0, 4), int(0, 2), int(17, 4), int(-1, 2), int(-1, 4), int(1, 2)]));
  const rowSizes = [0, 3, 4_000, 70_000, 10, 200_000, 1, 5_000, 64 * 1024, 17];
  const values = rowSizes.map((n, i) => Buffer.from(Array.from({ length: n }, (_, k) => (k * 13 + i) & 0xff)));
  const rows = values.map((v) => message('D', Buffer.concat([int(1, 2), int(v.length, 4), v])));
  const wire = Buffer.concat([description, ...rows, message('C', Buffer.from('SELECT 10\0'))]);
  // Where row 5 (200,000 octets) starts: a read that ends just inside it, then small reads.
  const row5 = description.length + rows.slice(0, 5).reduce((n, r) => n + r.length, 0);

  function cuts(pattern: number[]): Buffer[] {
    const out: Buffer[] = [];
    for (let at = 0, k = 0; at < wire.length; k++) {
      const n = pattern[k % pattern.length]!;
      out.push(Buffer.from(wire.subarray(at, at + n))); // a buffer of its own, as a socket read gives
      at += n;
    }
    return out;
  }

  it.each([
    ['one octet at a time', [1]],
    ['small', [7]],
    ['one 64 KiB read, then small ones', [65_536, 3, 100, 2, 4_096]],
    ['uneven', [65_536, 5, 65_536, 4, 1_000, 120_000]],
    ['all at once', [wire.length]],
    ['into a large row, then a few octets at a time', [row5 + 10, 3, 100, 2, wire.length]],
  ])('%s', (_name, pattern) => {
    const p = new Parser();
    const got: Buffer[] = [];
    const names: string[] = [];
    for (const chunk of cuts(pattern)) {
      p.parse(chunk, (m) => {
        names.push(m.name);
        if (m.name === 'dataRow') got.push(m.fields![0] as Buffer);
      });
    }
    expect(names).toEqual(['rowDescription', ...values.map(() => 'dataRow'), 'commandComplete']);
    got.forEach((v, i) => {
      expect(Buffer.isBuffer(v)).toBe(true);
      expect(v.equals(values[i]!), `row ${i} (${values[i]!.length} octets)`).toBe(true);
    });
  });
});
