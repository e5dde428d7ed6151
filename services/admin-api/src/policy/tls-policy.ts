// Checks of an operator's TLS policy entry (PUT /v1/tls-policies/{domain}), pure.
import { X509Certificate } from 'node:crypto';
import type { Checked } from './names.ts';

export type TlsPolicyKind = 'none' | 'may' | 'encrypt' | 'dane' | 'verify';

export interface TlsPolicyInput {
  policy: TlsPolicyKind;
  caPem?: string | undefined;
  fingerprints?: string[] | undefined;
}

/**
 * `verify` alone trusts the system roots; with `caPem` only that CA bundle; with
 * `fingerprints` (SHA-256 of the certificate, hex with or without colons) only those
 * certificates. Other policies take neither. Fingerprints come back as lower-case hex.
 */
export function checkTlsPolicy(input: TlsPolicyInput): Checked<{ caPem: string | null; fingerprints: string[] }> {
  const fps = input.fingerprints ?? [];
  const ca = input.caPem ?? null;
  if (input.policy !== 'verify' && (ca !== null || fps.length)) {
    return { ok: false, message: `body.caPem and body.fingerprints belong to policy "verify" only, not "${input.policy}"` };
  }
  const fingerprints: string[] = [];
  for (const [i, f] of fps.entries()) {
    const hex = f.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) return { ok: false, message: `body.fingerprints[${i}] is not a SHA-256 fingerprint (64 hex digits, colons allowed)` };
    if (!fingerprints.includes(hex)) fingerprints.push(hex);
  }
  if (ca !== null) {
    const blocks = ca.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
    if (!blocks.length) return { ok: false, message: 'body.caPem holds no PEM certificate' };
    for (const b of blocks) {
      try {
        new X509Certificate(b);
      } catch {
        return { ok: false, message: 'body.caPem holds a certificate that does not parse' };
      }
    }
  }
  return { ok: true, value: { caPem: ca, fingerprints } };
}
