// Parsed DKIM keys reused across messages (dkim-key-cache.ts), through the real authenticator
// and dns-client against test-kit's fake DNS: the second message reuses the keys, a key
// rotated or revoked under the same selector is seen at once, failures are never kept, and
// the cache is bounded.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDnsClient } from '@hopmail/dns-client';
import { dkimRecordValue, generateDkimKey, signDkim, type DkimAlgorithm, type DkimKeyMaterial } from '@hopmail/sender-auth';
import { startFakeDns, type FakeDns, type FakeDnsRecord } from '@hopmail/test-kit';
import { createDkimKeyCache, createMessageKeyCache, installDkimKeyCache } from './dkim-key-cache.ts';
import { createMailAuthenticator } from './mail-authenticator.ts';

const D = 'keys.test';
let dns: FakeDns;
const keys: Record<string, DkimKeyMaterial> = {};
const txt = (name: string, data: string): FakeDnsRecord => ({ name, type: 'TXT', data });
const base = () => [txt(D, 'v=spf1 ip4:127.0.0.1 -all'), txt(`_dmarc.${D}`, 'v=DMARC1; p=reject')];
const published = (sel: string, k: DkimKeyMaterial) => txt(`${sel}._domainkey.${D}`, dkimRecordValue(k.algorithm, k.publicKey));

beforeAll(async () => {
  for (const name of ['ed', 'rsa', 'ed2']) keys[name] = await generateDkimKey(name === 'rsa' ? 'rsa' : 'ed25519');
  dns = await startFakeDns({ host: '127.0.0.1', records: [...base(), published('ed', keys.ed!), published('rsa', keys.rsa!)] });
});
afterAll(() => dns.stop());

let seq = 0;
function message(signers: { selector: string; key: DkimKeyMaterial }[]): Buffer {
  const raw = Buffer.from(`From: <a@${D}>\r\nTo: <b@mx.test>\r\nSubject: key cache ${seq}\r\nMessage-ID: <k${seq++}@${D}>\r\n\r\nbody\r\n`);
  const sigs = signDkim(
    raw,
    signers.map(({ selector, key }) => ({ domain: D, selector, algorithm: key.algorithm as DkimAlgorithm, privateKey: createPrivateKey(key.privatePem) })),
  );
  return Buffer.concat([Buffer.from(sigs, 'latin1'), raw]);
}

// Every look-up reaches the fake DNS (no process-local memo): a changed record is seen at once.
const auth = () => createMailAuthenticator({ dns: createDnsClient({ servers: [`${dns.host}:${dns.port}`], timeoutMs: 1000, tries: 1 }), authservId: 'mx.test', timeoutMs: 5000, maxSignatures: 10, minRsaBits: 1024 });
const check = (raw: Buffer) => auth().check({ raw, mailFrom: `a@${D}`, helo: 'client.test', remoteIp: '127.0.0.1' });
const cache = () => installDkimKeyCache(createDkimKeyCache(1000));

describe('through the authenticator', () => {
  it('the second message signed with the same keys reuses them, and still verifies', async () => {
    const signers = [
      { selector: 'ed', key: keys.ed! },
      { selector: 'rsa', key: keys.rsa! },
    ];
    const first = await check(message(signers));
    expect(first.dkim.map((d) => d.result)).toEqual(['pass', 'pass']);
    expect(first.dmarc.result).toBe('pass');
    const before = cache().stats();
    const second = await check(message(signers));
    expect(second.dkim.map((d) => d.result)).toEqual(['pass', 'pass']);
    expect(cache().stats()).toMatchObject({ hits: before.hits + 2, misses: before.misses });
  });

  it('a reused key does not pass a signature it did not make', async () => {
    const forged = message([{ selector: 'ed', key: keys.ed2! }]);
    const r = await check(forged);
    expect(r.dkim).toEqual([expect.objectContaining({ result: 'fail', selector: 'ed', reason: 'bad signature' })]);
  });

  it('a key rotated under the same selector: the old key is not used once DNS publishes the new one', async () => {
    await check(message([{ selector: 'ed', key: keys.ed! }]));
    dns.setRecords([...base(), published('ed', keys.ed2!), published('rsa', keys.rsa!)]);
    try {
      expect((await check(message([{ selector: 'ed', key: keys.ed! }]))).dkim[0]).toMatchObject({ result: 'fail', reason: 'bad signature' });
      expect((await check(message([{ selector: 'ed', key: keys.ed2! }]))).dkim[0]).toMatchObject({ result: 'pass' });
    } finally {
      dns.setRecords([...base(), published('ed', keys.ed!), published('rsa', keys.rsa!)]);
    }
  });

  it('a revoked key (empty p=) fails at once, although its earlier record was kept', async () => {
    await check(message([{ selector: 'rsa', key: keys.rsa! }]));
    dns.setRecords([...base(), published('ed', keys.ed!), txt(`rsa._domainkey.${D}`, 'v=DKIM1; k=rsa; p=')]);
    try {
      const r = await check(message([{ selector: 'rsa', key: keys.rsa! }]));
      expect(r.dkim[0]!.result).not.toBe('pass');
      expect(r.dmarc.result).toBe('pass'); // SPF still aligns
    } finally {
      dns.setRecords([...base(), published('ed', keys.ed!), published('rsa', keys.rsa!)]);
    }
  });

  it('a key too weak (512-bit RSA) is refused every time and never kept', async () => {
    const w = generateKeyPairSync('rsa', { modulusLength: 512 });
    const weak: DkimKeyMaterial = { algorithm: 'rsa', bits: 512, privatePem: w.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey: w.publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
    dns.setRecords([...base(), published('weak', weak)]);
    try {
      const size = cache().stats().size;
      for (let i = 0; i < 2; i++) {
        const r = await check(message([{ selector: 'weak', key: weak }]));
        expect(r.dkim[0]!.result).not.toBe('pass');
      }
      expect(cache().stats().size).toBe(size);
    } finally {
      dns.setRecords([...base(), published('ed', keys.ed!), published('rsa', keys.rsa!)]);
    }
  });
});

describe('createDkimKeyCache', () => {
  const records: Record<string, string> = {};
  const resolver = async (name: string) => {
    if (!records[name]) throw Object.assign(new Error(name), { code: 'ENOTFOUND' });
    return [[records[name]]];
  };

  it('keeps at most `max` keys, dropping the least recently used', async () => {
    for (const s of ['a', 'b', 'c']) records[`${s}._domainkey.${D}`] = dkimRecordValue('ed25519', (await generateDkimKey('ed25519')).publicKey);
    const c = createDkimKeyCache(2);
    const get = (s: string) => c.wrap(createMessageKeyCache(resolver)).get('DKIM', `${s}._domainkey.${D}`, 1024, { hashAlgo: 'sha256' });
    await get('a');
    await get('b');
    await get('a'); // a is now the most recently used
    await get('c'); // drops b
    expect(c.stats()).toEqual({ size: 2, hits: 1, misses: 3 });
    await get('a');
    await get('b');
    expect(c.stats()).toEqual({ size: 2, hits: 2, misses: 4 });
  });

  it('gives crypto.verify() a KeyObject that mailauth can still report as text', async () => {
    const c = createDkimKeyCache(10);
    const res = await c.wrap(createMessageKeyCache(resolver)).get('DKIM', `a._domainkey.${D}`, 1024, { hashAlgo: 'sha256' });
    expect(typeof res.publicKey).toBe('object');
    expect(String(res.publicKey)).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it('a name that does not exist is mailauth\'s error, not kept', async () => {
    const c = createDkimKeyCache(10);
    await expect(c.wrap(createMessageKeyCache(resolver)).get('DKIM', `nx._domainkey.${D}`, 1024, {})).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(c.stats().size).toBe(0);
  });
});
