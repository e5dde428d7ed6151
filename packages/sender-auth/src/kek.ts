// The key-encryption key (KEK) that protects DKIM private keys at rest: AES-256-GCM, the
// row's domain and selector bound in as additional data so that a ciphertext copied onto
// another row does not decrypt. admin-api encrypts when it creates or imports a key;
// outbound-relay decrypts to sign. The KEK itself lives only in the environment
// (DKIM_KEY_ENCRYPTION_KEY, a secret); the database holds ciphertexts and the KEK's id.
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from '@hopmail/config';

/**
 * The development KEK: public, printed here, protects nothing. Services outside production
 * use it when DKIM_KEY_ENCRYPTION_KEY is unset (and say so in their log); production refuses
 * to start without a KEK of its own, and refuses this one.
 */
export const DEVELOPMENT_KEK = Buffer.from('hopmail-development-kek-public!!', 'latin1').toString('base64');

/** 32 bytes from base64 (44 characters with padding) or hex (64 characters); null otherwise. */
export function decodeKek(text: string): Buffer | null {
  const s = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(s)) return Buffer.from(s, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(s) || /^[A-Za-z0-9_-]{43}$/.test(s)) {
    const b = Buffer.from(s, s.includes('-') || s.includes('_') ? 'base64url' : 'base64');
    return b.length === 32 ? b : null;
  }
  return null;
}

export const kekConfig = {
  DKIM_KEY_ENCRYPTION_KEY: z
    .string()
    .default('')
    .refine((s) => s === '' || decodeKek(s) !== null, 'must be 32 bytes as base64 (44 characters, e.g. `openssl rand -base64 32`) or hex (64 characters)')
    .describe('key-encryption key of the DKIM private keys stored in PostgreSQL (AES-256-GCM): 32 bytes, base64 or hex; the same value for admin-api and outbound-relay. Required in production; elsewhere unset means the public development key'),
} as const;

/** A KEK ready for use, with its id (stored beside each ciphertext) and whether it is the development one. */
export interface Kek {
  key: Buffer;
  id: string;
  development: boolean;
}

export function kekId(key: Buffer): string {
  return createHash('sha256').update('hopmail-dkim-kek-id\0').update(key).digest('hex').slice(0, 16);
}

/** The configured KEK, or the development one when unset (production configs never get here without one). */
export function loadKek(configured: string): Kek {
  const key = decodeKek(configured || DEVELOPMENT_KEK)!;
  const development = timingSafeEqual(key, decodeKek(DEVELOPMENT_KEK)!);
  return { key, id: kekId(key), development };
}

const VERSION = 1;
const aad = (domain: string, selector: string) => Buffer.from(`hopmail-dkim-key\0${domain.toLowerCase()}\0${selector.toLowerCase()}`);

/** version(1) | iv(12) | tag(16) | ciphertext */
export function sealPrivateKey(kek: Kek, binding: { domain: string; selector: string }, pem: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek.key, iv);
  cipher.setAAD(aad(binding.domain, binding.selector));
  const ct = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), ct]);
}

export class KekError extends Error {}

/** The PEM; throws KekError when the blob was made with another KEK, for another row, or was altered. */
export function openPrivateKey(kek: Kek, binding: { domain: string; selector: string }, blob: Buffer): string {
  if (blob.length < 30 || blob[0] !== VERSION) throw new KekError('unknown DKIM key ciphertext format');
  const decipher = createDecipheriv('aes-256-gcm', kek.key, blob.subarray(1, 13));
  decipher.setAAD(aad(binding.domain, binding.selector));
  decipher.setAuthTag(blob.subarray(13, 29));
  try {
    return Buffer.concat([decipher.update(blob.subarray(29)), decipher.final()]).toString('utf8');
  } catch {
    throw new KekError('DKIM private key does not decrypt with this key-encryption key (another DKIM_KEY_ENCRYPTION_KEY, or the row was altered)');
  }
}
