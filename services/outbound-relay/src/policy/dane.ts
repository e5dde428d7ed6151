// DANE for SMTP (RFC 7672), pure: which TLSA records are usable, and whether a certificate
// chain matches one. DANE-EE(3): the server's own certificate or key, no name or expiry check
// (§3.1.1). DANE-TA(2): a trust anchor in the chain the server sent, with the MX host name
// checked (§3.1.2). PKIX usages (0, 1) are unusable for SMTP (§3.1.3), as are unknown
// selectors and matching types (RFC 6698 §4.1): if no record is usable, TLS is still
// mandatory but not authenticated (RFC 7672 §2.2).
import { createHash, X509Certificate } from 'node:crypto';
import type { TlsaRecord } from '@hopmail/dns-client';

export function usableTlsa(records: readonly TlsaRecord[]): TlsaRecord[] {
  return records.filter((r) => (r.usage === 2 || r.usage === 3) && (r.selector === 0 || r.selector === 1) && [0, 1, 2].includes(r.matchingType));
}

function matches(r: TlsaRecord, der: Buffer): boolean {
  const content = r.selector === 0 ? der : (new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' }) as Buffer);
  const digest = r.matchingType === 0 ? content : createHash(r.matchingType === 1 ? 'sha256' : 'sha512').update(content).digest();
  return digest.equals(r.data);
}

/** chain[0..j]: each certificate issued by the next and signed by its key. */
function chainsUpTo(chain: readonly Buffer[], j: number): boolean {
  for (let k = 0; k < j; k++) {
    const cert = new X509Certificate(chain[k]!);
    const issuer = new X509Certificate(chain[k + 1]!);
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return false;
  }
  return true;
}

export type DaneCheck = { ok: true } | { ok: false; detail: string };

/** `chain`: DER certificates as the server sent them, leaf first. `hostOk`: the leaf names the MX host. */
export function checkDane(records: readonly TlsaRecord[], chain: readonly Buffer[], hostOk: boolean): DaneCheck {
  const leaf = chain[0];
  if (!leaf) return { ok: false, detail: 'no certificate' };
  const usable = usableTlsa(records);
  if (usable.some((r) => r.usage === 3 && matches(r, leaf))) return { ok: true };
  // DANE-TA: an issuer certificate the server sent matches, the leaf chains up to it (each
  // certificate issued and signed by the next: a forger can send the real anchor after a leaf
  // of its own), and the leaf names the MX host.
  if (usable.some((r) => r.usage === 2 && chain.some((c, j) => j > 0 && matches(r, c) && chainsUpTo(chain, j)))) {
    return hostOk ? { ok: true } : { ok: false, detail: 'DANE-TA matched but the certificate does not name the MX host' };
  }
  return { ok: false, detail: `no TLSA record matches the certificate (${usable.map((r) => `${r.usage} ${r.selector} ${r.matchingType}`).join(', ')})` };
}
