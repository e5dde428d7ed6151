// DKIM keys as admin-api stores them (encrypted under the KEK), written straight into the
// test database, with the TXT records a verifier needs.
import { dkimRecordName, dkimRecordValue, generateDkimKey, loadKek, sealPrivateKey, type DkimAlgorithm, type DkimKeyMaterial } from '@hopmail/sender-auth';
import type { TestDatabase } from '@hopmail/test-kit';

export const TEST_KEK = Buffer.alloc(32, 42).toString('base64');

export interface StoredKey extends DkimKeyMaterial {
  id: number;
  domain: string;
  selector: string;
  recordName: string;
  recordValue: string;
}

export async function ensureDomain(db: TestDatabase, name: string): Promise<number> {
  const r = await db.pool.query<{ id: string }>(
    `INSERT INTO domains (name) VALUES ($1) ON CONFLICT ((lower(name))) DO UPDATE SET name = domains.name RETURNING id`,
    [name],
  );
  return Number(r.rows[0]!.id);
}

export async function addKey(
  db: TestDatabase,
  domain: string,
  selector: string,
  algorithm: DkimAlgorithm,
  opts: { status?: 'pending' | 'active' | 'retired'; activatedAgoS?: number; retireInS?: number | null; kek?: string } = {},
): Promise<StoredKey> {
  const domainId = await ensureDomain(db, domain);
  const material = await generateDkimKey(algorithm);
  const kek = loadKek(opts.kek ?? TEST_KEK);
  const status = opts.status ?? 'active';
  const r = await db.pool.query<{ id: string }>(
    `INSERT INTO dkim_keys (domain_id, selector, algorithm, bits, public_key, private_key, kek_id, status, activated_at, retire_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 = 'pending' THEN NULL ELSE now() - make_interval(secs => $9) END,
             CASE WHEN $10::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $10::float8) END)
     RETURNING id`,
    [domainId, selector, algorithm, material.bits, material.publicKey, sealPrivateKey(kek, { domain, selector }, material.privatePem), kek.id, status, opts.activatedAgoS ?? 0, opts.retireInS ?? null],
  );
  return { ...material, id: Number(r.rows[0]!.id), domain, selector, recordName: dkimRecordName(selector, domain), recordValue: dkimRecordValue(algorithm, material.publicKey) };
}

/** `sel._domainkey.dom` → TXT, for dkimpy. */
export const recordsOf = (...keys: StoredKey[]) => Object.fromEntries(keys.map((k) => [k.recordName, k.recordValue]));

/** Pieces of a private key that must never show up anywhere: PEM body lines. */
export const secretPieces = (k: StoredKey) => k.privatePem.split('\n').filter((l) => l && !l.startsWith('-----')).map((l) => l.slice(0, 40)).filter((l) => l.length >= 20);
