import { createHash, X509Certificate } from 'node:crypto';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { describe, expect, it } from 'vitest';
import { checkDane, usableTlsa } from './dane.ts';

const ca = createSelfSignedCertificate({ names: ['DANE Test CA'], ca: true });
const leaf = createSelfSignedCertificate({ names: ['mx.example'], issuer: ca });
const der = (pem: string) => Buffer.from(new X509Certificate(pem).raw);
const spki = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }) as Buffer;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest();
const chain = [der(leaf.cert), der(ca.cert)];
const rec = (usage: number, selector: number, matchingType: number, data: Buffer) => ({ usage, selector, matchingType, data });

describe('DANE (RFC 7672)', () => {
  it('keeps DANE-TA and DANE-EE with known selectors and matching types; drops PKIX usages and unknown values', () => {
    const recs = [rec(3, 1, 1, Buffer.alloc(32)), rec(2, 0, 2, Buffer.alloc(64)), rec(1, 1, 1, Buffer.alloc(32)), rec(0, 0, 1, Buffer.alloc(32)), rec(3, 1, 9, Buffer.alloc(1)), rec(3, 7, 1, Buffer.alloc(32)), rec(4, 1, 1, Buffer.alloc(32))];
    expect(usableTlsa(recs).map((r) => [r.usage, r.selector, r.matchingType])).toEqual([[3, 1, 1], [2, 0, 2]]);
  });

  it.each([
    ['3 1 1 of the leaf key', [rec(3, 1, 1, sha256(spki(leaf.cert)))], false, { ok: true }],
    ['3 0 1 of the leaf certificate', [rec(3, 0, 1, sha256(der(leaf.cert)))], false, { ok: true }],
    ['3 1 0 full key', [rec(3, 1, 0, spki(leaf.cert))], false, { ok: true }],
    ['2 0 1 of the CA, host named', [rec(2, 0, 1, sha256(der(ca.cert)))], true, { ok: true }],
    ['2 1 2 of the CA key, host named', [rec(2, 1, 2, sha512(spki(ca.cert)))], true, { ok: true }],
    ['2 0 1 of the CA, host not named', [rec(2, 0, 1, sha256(der(ca.cert)))], false, { ok: false, detail: 'DANE-TA matched but the certificate does not name the MX host' }],
    ['2 0 1 of the leaf is not a trust anchor', [rec(2, 0, 1, sha256(der(leaf.cert)))], true, { ok: false, detail: 'no TLSA record matches the certificate (2 0 1)' }],
    ['only an unknown matching type', [rec(3, 1, 9, sha256(spki(leaf.cert)))], true, { ok: false, detail: 'no TLSA record matches the certificate ()' }],
    ['3 1 1 of another key', [rec(3, 1, 1, Buffer.alloc(32))], true, { ok: false, detail: 'no TLSA record matches the certificate (3 1 1)' }],
  ])('%s', (_, records, hostOk, want) => expect(checkDane(records, chain, hostOk)).toEqual(want));

  it('DANE-TA: a leaf of another issuer sent with the real anchor does not match (the chain must link)', () => {
    const evil = createSelfSignedCertificate({ names: ['Evil CA'], ca: true });
    const forged = createSelfSignedCertificate({ names: ['mx.example'], issuer: evil });
    const records = [rec(2, 0, 1, sha256(der(ca.cert)))];
    expect(checkDane(records, [der(forged.cert), der(ca.cert)], true)).toEqual({ ok: false, detail: 'no TLSA record matches the certificate (2 0 1)' });
    expect(checkDane(records, [der(leaf.cert), der(evil.cert), der(ca.cert)], true)).toEqual({ ok: false, detail: 'no TLSA record matches the certificate (2 0 1)' });
  });

  it('no certificate is no match', () => expect(checkDane([rec(3, 1, 1, Buffer.alloc(32))], [], true)).toEqual({ ok: false, detail: 'no certificate' }));
});
