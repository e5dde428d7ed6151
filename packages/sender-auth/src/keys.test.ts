import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeKek, DEVELOPMENT_KEK, KekError, loadKek, openPrivateKey, sealPrivateKey } from './kek.ts';
import { checkSelector, dkimRecordValue, generateDkimKey, importDkimKey } from './keys.ts';
import { requireSecretsInProduction } from './secrets.ts';

const pem = (type: 'rsa' | 'ec' | 'ed25519', bits?: number) => {
  const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: bits! }) : type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
};

describe('DKIM keys', () => {
  it('generates Ed25519 with the raw 32-byte p= of RFC 8463, and RSA-2048 with an SPKI p=', async () => {
    const ed = await generateDkimKey('ed25519');
    expect(Buffer.from(ed.publicKey, 'base64')).toHaveLength(32);
    expect(dkimRecordValue('ed25519', ed.publicKey)).toBe(`v=DKIM1; k=ed25519; p=${ed.publicKey}`);
    const rsa = await generateDkimKey('rsa');
    expect(rsa.bits).toBe(2048);
    expect(rsa.privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('imports Ed25519 and RSA keys, PKCS#1 too', () => {
    expect(importDkimKey(pem('ed25519'))).toMatchObject({ ok: true, key: { algorithm: 'ed25519', bits: 256 } });
    const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(importDkimKey(pkcs1)).toMatchObject({ ok: true, key: { algorithm: 'rsa', bits: 2048 } });
  });

  it('refuses a 512-bit RSA key as too weak, other key types, and garbage', () => {
    // node refuses to generate 512-bit RSA keys; openssl still does
    const weak = execFileSync('openssl', ['genrsa', '512'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    expect(importDkimKey(weak)).toEqual({ ok: false, message: expect.stringMatching(/512 bits: too weak/) });
    expect(importDkimKey(pem('ec'))).toEqual({ ok: false, message: expect.stringMatching(/is a ec key/) });
    expect(importDkimKey('not a key')).toEqual({ ok: false, message: expect.stringMatching(/not a PEM private key/) });
  });

  it.each([
    ['s2025', { ok: true, value: 's2025' }],
    ['Mail.Sel-1', { ok: true, value: 'mail.sel-1' }],
    ['sélecteur', { ok: false, message: expect.stringMatching(/must be ASCII/) }],
    ['sel_1', { ok: false, message: expect.stringMatching(/DNS labels/) }],
    ['-sel', { ok: false, message: expect.stringMatching(/DNS labels/) }],
    ['a..b', { ok: false, message: expect.stringMatching(/DNS labels/) }],
    ['', { ok: false, message: 'is empty' }],
    ['a'.repeat(64), { ok: false, message: expect.stringMatching(/DNS labels/) }],
    [Array(40).fill('abcde').join('.'), { ok: false, message: expect.stringMatching(/longer than 253/) }],
  ])('selector %j', (s, want) => {
    expect(checkSelector(s, 'example.org')).toEqual(want);
  });
});

describe('key-encryption key', () => {
  const kek = loadKek(Buffer.alloc(32, 7).toString('base64'));
  it('decodes 32 bytes from base64 or hex, nothing else', () => {
    expect(decodeKek('00'.repeat(32))).toHaveLength(32);
    expect(decodeKek(Buffer.alloc(32).toString('base64'))).toHaveLength(32);
    expect(decodeKek(Buffer.alloc(16).toString('base64'))).toBeNull();
    expect(decodeKek('00'.repeat(31))).toBeNull();
    expect(decodeKek(Buffer.alloc(33).toString('base64'))).toBeNull();
    expect(loadKek('').development).toBe(true);
    expect(kek.development).toBe(false);
  });

  it('round-trips, and refuses another KEK, another row, or an altered blob', () => {
    const blob = sealPrivateKey(kek, { domain: 'example.org', selector: 's1' }, 'PEM');
    expect(blob.includes(Buffer.from('PEM'))).toBe(false);
    expect(openPrivateKey(kek, { domain: 'Example.org', selector: 's1' }, blob)).toBe('PEM');
    expect(() => openPrivateKey(loadKek(DEVELOPMENT_KEK), { domain: 'example.org', selector: 's1' }, blob)).toThrow(KekError);
    expect(() => openPrivateKey(kek, { domain: 'example.org', selector: 's2' }, blob)).toThrow(KekError);
    const altered = Buffer.from(blob);
    altered[altered.length - 1]! ^= 1;
    expect(() => openPrivateKey(kek, { domain: 'example.org', selector: 's1' }, altered)).toThrow(KekError);
  });

  it('production requires a KEK and an SRS secret of its own', () => {
    const issues: string[] = [];
    const ctx = { addIssue: (i: { path: string[]; message: string }) => void issues.push(`${i.path[0]}: ${i.message}`) };
    requireSecretsInProduction({ NODE_ENV: 'production', DKIM_KEY_ENCRYPTION_KEY: '', SRS_SECRET: '' }, ctx);
    requireSecretsInProduction({ NODE_ENV: 'production', DKIM_KEY_ENCRYPTION_KEY: DEVELOPMENT_KEK }, ctx);
    requireSecretsInProduction({ NODE_ENV: 'development', DKIM_KEY_ENCRYPTION_KEY: '', SRS_SECRET: '' }, ctx);
    expect(issues).toEqual([
      expect.stringMatching(/^DKIM_KEY_ENCRYPTION_KEY: required in production/),
      expect.stringMatching(/^SRS_SECRET: required in production/),
      expect.stringMatching(/^DKIM_KEY_ENCRYPTION_KEY: is the public development key/),
    ]);
  });
});
