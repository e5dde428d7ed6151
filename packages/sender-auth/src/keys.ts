// DKIM keys: generation, import checks, selectors, and the TXT record to publish (RFC 6376
// §3.6.1; Ed25519 per RFC 8463: p= is the raw 32-byte public key). Pure apart from the
// random numbers of key generation.
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

export type DkimAlgorithm = 'ed25519' | 'rsa';

export const DKIM_ALGORITHMS: readonly DkimAlgorithm[] = ['ed25519', 'rsa'];

/** RFC 8301 §3.2: signers MUST use at least 1024 bits; we generate 2048 by default. */
export const RSA_MIN_BITS = 1024;
export const RSA_MAX_BITS = 4096;

export interface DkimKeyMaterial {
  algorithm: DkimAlgorithm;
  /** RSA modulus length; 256 for Ed25519. */
  bits: number;
  /** PKCS#8 PEM. Secret: encrypt before storing, never log or return. */
  privatePem: string;
  /** The p= value of the DNS record. */
  publicKey: string;
}

const generate = promisify(generateKeyPair);

function publicKeyOf(algorithm: DkimAlgorithm, key: KeyObject): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  // An Ed25519 SubjectPublicKeyInfo ends with the 32 bytes of the key itself.
  return (algorithm === 'ed25519' ? spki.subarray(spki.length - 32) : spki).toString('base64');
}

export async function generateDkimKey(algorithm: DkimAlgorithm, bits = 2048): Promise<DkimKeyMaterial> {
  const pair = algorithm === 'rsa' ? await generate('rsa', { modulusLength: bits }) : await generate('ed25519');
  const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { algorithm, bits: algorithm === 'rsa' ? bits : 256, privatePem, publicKey: publicKeyOf(algorithm, pair.privateKey) };
}

export type ImportResult = { ok: true; key: DkimKeyMaterial } | { ok: false; message: string };

/** A PEM private key offered for import (PKCS#8, or PKCS#1 for RSA): Ed25519 or RSA of 1024–4096 bits. */
export function importDkimKey(pem: string): ImportResult {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    return { ok: false, message: 'is not a PEM private key (PKCS#8, or PKCS#1 for RSA)' };
  }
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') {
    return { ok: true, key: { algorithm: 'ed25519', bits: 256, privatePem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKeyOf('ed25519', key) } };
  }
  if (type !== 'rsa') return { ok: false, message: `is a ${type ?? 'unknown'} key; DKIM signs with Ed25519 (RFC 8463) or RSA (RFC 8301)` };
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < RSA_MIN_BITS) return { ok: false, message: `is an RSA key of ${bits} bits: too weak, verifiers refuse keys under ${RSA_MIN_BITS} bits (RFC 8301 §3.2); use 2048` };
  if (bits > RSA_MAX_BITS) return { ok: false, message: `is an RSA key of ${bits} bits; at most ${RSA_MAX_BITS} (RFC 8301 §3.2: verifiers need not go further)` };
  return { ok: true, key: { algorithm: 'rsa', bits, privatePem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: publicKeyOf('rsa', key) } };
}

/** The TXT record at `<selector>._domainkey.<domain>`. */
export function dkimRecordValue(algorithm: DkimAlgorithm, publicKey: string): string {
  return `v=DKIM1; k=${algorithm}; p=${publicKey}`;
}

export const dkimRecordName = (selector: string, domain: string) => `${selector}._domainkey.${domain}`;

export type SelectorCheck = { ok: true; value: string } | { ok: false; message: string };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * RFC 6376 §3.1: a selector is one or more DNS labels. Stored lower case. Non-ASCII is
 * refused: an internationalised selector must be given as its A-label (xn--…), which is what
 * goes into s= and DNS.
 */
export function checkSelector(input: string, domain: string): SelectorCheck {
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(input)) return { ok: false, message: 'must be ASCII (give an internationalised selector as its xn-- A-label)' };
  const s = input.toLowerCase();
  if (s.length === 0) return { ok: false, message: 'is empty' };
  if (!s.split('.').every((l) => LABEL.test(l))) return { ok: false, message: 'must be DNS labels of letters, digits and inner hyphens, separated by dots (RFC 6376 §3.1)' };
  if (dkimRecordName(s, domain).length > 253) return { ok: false, message: 'makes <selector>._domainkey.<domain> longer than 253 characters' };
  return { ok: true, value: s };
}
