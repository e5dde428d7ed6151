import { createPrivateKey } from 'node:crypto';
import { dkimpyMissing, verifyWithDkimpy } from '@hopmail/test-kit';
import { dkimVerify } from 'mailauth';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromDomain, parseHeader, signDkim, signDkimAsync, splitMessage, type SigningKey } from './dkim-sign.ts';
import { dkimRecordName, dkimRecordValue, generateDkimKey, type DkimKeyMaterial } from './keys.ts';

const missing = dkimpyMissing();
if (missing) console.log(`skipping dkimpy checks: ${missing}`);

let ed: DkimKeyMaterial;
let rsa: DkimKeyMaterial;
let keys: SigningKey[];
let records: Record<string, string>;

beforeAll(async () => {
  [ed, rsa] = await Promise.all([generateDkimKey('ed25519'), generateDkimKey('rsa', 2048)]);
  keys = [
    { domain: 'example.org', selector: 'ed1', algorithm: 'ed25519', privateKey: createPrivateKey(ed.privatePem) },
    { domain: 'example.org', selector: 'rsa1', algorithm: 'rsa', privateKey: createPrivateKey(rsa.privatePem) },
  ];
  records = {
    [dkimRecordName('ed1', 'example.org')]: dkimRecordValue('ed25519', ed.publicKey),
    [dkimRecordName('rsa1', 'example.org')]: dkimRecordValue('rsa', rsa.publicKey),
  };
});

const message = Buffer.from(
  'From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: =?utf-8?q?h=C3=A9llo?=\r\n folded\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n' +
    'Message-ID: <1@example.org>\r\nX-Other: not signed\r\n\r\nbody line   with  spaces \r\n\r\n\r\n',
);
const signed = () => Buffer.concat([Buffer.from(signDkim(message, keys)), message]);
const resolver = async (name: string) => {
  const v = records[name.toLowerCase()];
  if (!v) throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
  return [[v]];
};

describe('signDkim', () => {
  it('signs with Ed25519 and RSA, relaxed/relaxed, and dkimpy verifies both', async () => {
    const out = signed();
    const sigs = parseHeader(splitMessage(out).header).filter((h) => h.key === 'dkim-signature').map((h) => h.line.toString());
    expect(sigs).toHaveLength(2);
    expect(sigs[0]).toContain('a=ed25519-sha256');
    expect(sigs[1]).toContain('a=rsa-sha256');
    for (const s of sigs) expect(s).toContain('c=relaxed/relaxed');
    if (missing) return;
    const r = await verifyWithDkimpy(out, records);
    expect(r.signatures.map((s) => [s.algorithm, s.selector, s.ok])).toEqual([['ed25519-sha256', 'ed1', true], ['rsa-sha256', 'rsa1', true]]);
  });

  it('mailauth verifies them too', async () => {
    const r = await dkimVerify(signed(), { resolver: resolver as never });
    expect(r.results.map((x) => x.status.result)).toEqual(['pass', 'pass']);
  });

  it('oversigns From, Subject, Date, To and Message-ID: a second From added later breaks both signatures', async () => {
    const out = signed();
    const h = /h=([^;]+);/.exec(parseHeader(splitMessage(out).header)[0]!.line.toString().replace(/\r\n\s+/g, ''))![1]!.split(':').map((x) => x.trim().toLowerCase());
    for (const f of ['from', 'subject', 'date', 'to', 'message-id']) expect(h.filter((x) => x === f), f).toHaveLength(2);
    expect(h).not.toContain('x-other');
    const forged = Buffer.from(out.toString('latin1').replace('\r\n\r\nbody', '\r\nFrom: ceo@bank.example\r\n\r\nbody'), 'latin1');
    if (!missing) expect((await verifyWithDkimpy(forged, records)).signatures.map((s) => s.ok)).toEqual([false, false]);
    expect((await dkimVerify(forged, { resolver: resolver as never })).results.map((x) => x.status.result)).toEqual(['fail', 'fail']);
  });

  it('a changed body or header fails verification', async () => {
    const out = signed().toString('latin1');
    for (const bad of [out.replace('body line', 'body lime'), out.replace('Subject: =?utf-8', 'Subject: =?UTF-8')]) {
      if (!missing) expect((await verifyWithDkimpy(Buffer.from(bad, 'latin1'), records)).signatures.every((s) => !s.ok)).toBe(true);
    }
  });

  it('whitespace changes relaxed canonicalisation allows still verify', async () => {
    if (missing) return;
    const out = signed().toString('latin1').replace('body line   with  spaces ', 'body line with spaces').replace('To: bob', 'to:   bob');
    expect((await verifyWithDkimpy(Buffer.from(out, 'latin1'), records)).signatures.every((s) => s.ok)).toBe(true);
  });

  it('no keys, no signature', async () => {
    expect(signDkim(message, [])).toBe('');
    expect(await signDkimAsync(message, [])).toBe('');
  });

  it('signDkimAsync (keys used in the thread pool) gives the same fields, also from a message split and parsed beforehand', async () => {
    const now = new Date('2024-01-01T00:00:00Z');
    const sync = signDkim(message, keys, now);
    const split = splitMessage(message);
    expect(await signDkimAsync(message, keys, now)).toBe(sync);
    expect(await signDkimAsync({ ...split, parsed: parseHeader(split.header) }, keys, now)).toBe(sync);
    expect(signDkim({ ...split, parsed: parseHeader(split.header) }, keys, now)).toBe(sync);
    expect(sync.split('DKIM-Signature:')).toHaveLength(3);
  });
});

describe('fromDomain', () => {
  const of = (head: string) => fromDomain(parseHeader(Buffer.from(head + '\r\n')));
  it.each([
    ['From: Alice <Alice@Example.ORG>', { ok: true, domain: 'example.org' }],
    ['From: alice@sub.example.org (Alice)', { ok: true, domain: 'sub.example.org' }],
    ['From: "a, b" <x@example.com>', { ok: true, domain: 'example.com' }],
    ['from:\r\n alice@example.org', { ok: true, domain: 'example.org' }],
    ['Subject: none', { ok: false, reason: 'no-from' }],
    ['From: a@example.org\r\nFrom: b@example.net', { ok: false, reason: 'several-from' }],
    ['From: a@example.org, b@example.net', { ok: false, reason: 'no-address' }],
    ['From: undisclosed', { ok: false, reason: 'no-address' }],
  ])('%j', (head, want) => {
    expect(of(head)).toEqual(want);
  });
});
