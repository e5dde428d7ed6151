// A self-signed certificate for development, built with node:crypto alone (an ECDSA P-256
// key and a minimal X.509 v3 DER encoder): a fresh Debian machine or a slim container need
// no openssl binary for `pnpm start`. Never used in production (NODE_ENV=production refuses
// to start without a configured certificate).

import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

const len = (n: number): Buffer => {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
};
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const oid = (dotted: string): Buffer => {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const b = [p & 0x7f];
    for (let v = p >> 7; v > 0; v >>= 7) b.unshift(0x80 | (v & 0x7f));
    out.push(...b);
  }
  return tlv(0x06, Buffer.from(out));
};
const utcTime = (d: Date): Buffer => tlv(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z', 'ascii'));
/** A non-negative DER INTEGER from big-endian bytes: minimal (X.690 §8.3.2: no leading 0x00 before a byte below 0x80), a 0x00 added before a high bit. */
const integer = (b: Buffer): Buffer => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && b[i + 1]! < 0x80) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
};
const name = (cn: string) => seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))));

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

export interface SelfSignedOptions {
  /** DNS names and IP addresses for subjectAltName; the first one is also the CN. */
  names: string[];
  days?: number;
  /** Backdate notBefore (tests: an already expired certificate with a negative `days`). */
  notBefore?: Date;
  /** Tests: make a CA certificate (basicConstraints CA, keyCertSign) instead of a server one. */
  ca?: boolean;
  /** Tests: sign with this CA (from `ca: true`) instead of self-signing. */
  issuer?: { cert: string; key: string };
}

/** A PEM certificate and PKCS#8 PEM key (ECDSA P-256, SHA-256), self-signed. */
export function createSelfSignedCertificate(options: SelfSignedOptions): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = new Date(notBefore.getTime() + (options.days ?? 365) * 86_400_000);
  const sigAlg = seq(oid('1.2.840.10045.4.3.2')); // ecdsa-with-SHA256
  const san = seq(...options.names.map((n) => (isIP(n) ? tlv(0x87, ipBytes(n)) : tlv(0x82, Buffer.from(n, 'ascii')))));
  const ski = tlv(0x04, createHash('sha1').update(spki).digest());
  const issuer = options.issuer ? new X509Certificate(options.issuer.cert) : null;
  const extensions = tlv(
    0xa3,
    seq(
      options.ca
        ? seq(oid('2.5.29.19'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, seq(tlv(0x01, Buffer.from([0xff]))))) // basicConstraints critical, CA true
        : seq(oid('2.5.29.19'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, seq())), // basicConstraints critical, CA false
      options.ca
        ? seq(oid('2.5.29.15'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, tlv(0x03, Buffer.from([0x01, 0x86])))) // keyUsage digitalSignature, keyCertSign, cRLSign
        : seq(oid('2.5.29.15'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, tlv(0x03, Buffer.from([0x07, 0x80])))), // keyUsage digitalSignature
      ...(options.ca ? [] : [seq(oid('2.5.29.37'), tlv(0x04, seq(oid('1.3.6.1.5.5.7.3.1'))))]), // extKeyUsage serverAuth
      ...(options.ca ? [] : [seq(oid('2.5.29.17'), tlv(0x04, san))]),
      seq(oid('2.5.29.14'), tlv(0x04, ski)),
      ...(issuer ? [seq(oid('2.5.29.35'), tlv(0x04, seq(tlv(0x80, createHash('sha1').update(issuer.publicKey.export({ type: 'spki', format: 'der' })).digest()))))] : []), // authorityKeyIdentifier
    ),
  );
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    sigAlg,
    // the issuer's subject, which for a CA made here is its CN alone
    issuer ? name(issuer.subject.replace(/^CN=/, '')) : name(options.names[0] ?? 'localhost'),
    seq(utcTime(notBefore), utcTime(notAfter)),
    name(options.names[0] ?? 'localhost'),
    spki,
    extensions,
  );
  const signature = sign('sha256', tbs, { key: options.issuer ? createPrivateKey(options.issuer.key) : privateKey, dsaEncoding: 'der' });
  const der = seq(tbs, sigAlg, tlv(0x03, Buffer.from([0]), signature));
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  const cert = `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
  new X509Certificate(cert); // throws if the encoder ever produced something unreadable
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/**
 * Development only: `<dir>/dev-tls.crt` and `<dir>/dev-tls.key`, created when missing (or
 * expiring within a week). Returns the paths and whether they were created now.
 */
export function ensureDevCertificate(dir: string, names: string[] = ['localhost', '127.0.0.1', '::1']): { certFile: string; keyFile: string; created: boolean } {
  const certFile = join(dir, 'dev-tls.crt');
  const keyFile = join(dir, 'dev-tls.key');
  if (existsSync(certFile) && existsSync(keyFile)) {
    try {
      const x = new X509Certificate(readFileSync(certFile));
      if (new Date(x.validTo).getTime() > Date.now() + 7 * 86_400_000) return { certFile, keyFile, created: false };
    } catch {
      // unreadable: make a new one
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { cert, key } = createSelfSignedCertificate({ names, days: 365 });
  // Key first, each file renamed into place, so a watcher never sees a half-written pair.
  writeFileSync(keyFile + '.tmp', key, { mode: 0o600 });
  renameSync(keyFile + '.tmp', keyFile);
  writeFileSync(certFile + '.tmp', cert, { mode: 0o644 });
  renameSync(certFile + '.tmp', certFile);
  return { certFile, keyFile, created: true };
}
