import { createPrivateKey } from 'node:crypto';
import { dkimpyMissing, verifyWithDkimpy } from '@hopmail/test-kit';
import { beforeAll, describe, expect, it } from 'vitest';
import { arcSeal, ownAuthResults } from './arc-seal.ts';
import { signDkim } from './dkim-sign.ts';
import { dkimRecordName, dkimRecordValue, generateDkimKey, type DkimKeyMaterial } from './keys.ts';

const missing = dkimpyMissing();
let first: DkimKeyMaterial;
let second: DkimKeyMaterial;
let origin: DkimKeyMaterial;
const records: Record<string, string> = {};
const resolver = async (name: string, rrtype: string) => {
  const v = records[name.toLowerCase()];
  if (rrtype !== 'TXT' || !v) throw Object.assign(new Error('no such record'), { code: 'ENOTFOUND' });
  return [[v]];
};

beforeAll(async () => {
  [first, second, origin] = await Promise.all([generateDkimKey('rsa'), generateDkimKey('rsa'), generateDkimKey('ed25519')]);
  records[dkimRecordName('f1', 'first.example')] = dkimRecordValue('rsa', first.publicKey);
  records[dkimRecordName('s1', 'second.example')] = dkimRecordValue('rsa', second.publicKey);
  records[dkimRecordName('o1', 'origin.example')] = dkimRecordValue('ed25519', origin.publicKey);
});

const message = () => {
  const m = Buffer.from('Received: from a by first.example\r\nAuthentication-Results: first.example; spf=pass smtp.mailfrom=origin.example\r\nFrom: x@origin.example\r\nTo: list@first.example\r\nSubject: hi\r\n\r\nbody\r\n');
  return Buffer.concat([Buffer.from(signDkim(m, [{ domain: 'origin.example', selector: 'o1', algorithm: 'ed25519', privateKey: createPrivateKey(origin.privatePem) }])), m]);
};

describe('arcSeal', () => {
  it('seals i=1 with cv=none, and a second hop validates the chain (cv=pass) before sealing i=2; dkimpy validates both', async () => {
    const m0 = message();
    const authResults = ownAuthResults(m0, 'first.example');
    expect(authResults).toBe('first.example; spf=pass smtp.mailfrom=origin.example');
    const s1 = await arcSeal(m0, { domain: 'first.example', selector: 'f1', privatePem: first.privatePem }, { authResults, resolver });
    expect(s1).toMatchObject({ ok: true, instance: 1, cv: 'none' });
    const m1 = Buffer.concat([Buffer.from((s1 as { headers: string }).headers), m0]);
    if (!missing) expect((await verifyWithDkimpy(m1, records)).arc).toMatchObject({ cv: 'pass' });

    const hop2 = Buffer.concat([Buffer.from('Received: from first.example by second.example\r\n'), m1]);
    const s2 = await arcSeal(hop2, { domain: 'second.example', selector: 's1', privatePem: second.privatePem }, { authResults: ownAuthResults(hop2, 'second.example'), resolver });
    expect(s2).toMatchObject({ ok: true, instance: 2, cv: 'pass' });
    const m2 = Buffer.concat([Buffer.from((s2 as { headers: string }).headers), hop2]);
    if (!missing) expect((await verifyWithDkimpy(m2, records)).arc).toMatchObject({ cv: 'pass' });
  });

  it('a broken chain is sealed with cv=fail once, and never again', async () => {
    const m0 = message();
    const s1 = await arcSeal(m0, { domain: 'first.example', selector: 'f1', privatePem: first.privatePem }, { authResults: 'first.example; none', resolver });
    const tampered = Buffer.from(Buffer.concat([Buffer.from((s1 as { headers: string }).headers), m0]).toString('latin1').replace('body', 'bodY'), 'latin1');
    const s2 = await arcSeal(tampered, { domain: 'second.example', selector: 's1', privatePem: second.privatePem }, { authResults: 'second.example; none', resolver });
    expect(s2).toMatchObject({ ok: true, instance: 2, cv: 'fail' });
    const m2 = Buffer.concat([Buffer.from((s2 as { headers: string }).headers), tampered]);
    const s3 = await arcSeal(m2, { domain: 'second.example', selector: 's1', privatePem: second.privatePem }, { authResults: 'second.example; none', resolver });
    expect(s3.ok).toBe(false);
  });

  it('our own Authentication-Results only: one below a second Received: is a previous hop\'s', () => {
    const m = Buffer.from('Received: by us\r\nReceived: by them\r\nAuthentication-Results: them; dkim=pass\r\nFrom: a@b.example\r\n\r\nx\r\n');
    expect(ownAuthResults(m, 'us.example')).toBe('us.example; none');
  });
});
