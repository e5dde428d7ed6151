import { describe, expect, it } from 'vitest';
import { checkRecord, expectedRecords, type Answer } from './dns-doctor.ts';
import { ourStsPolicy, policyDomainOfHost } from './mta-sts-policy.ts';

const settings = {
  mailHostname: 'mx.hopmail.test',
  spf: 'v=spf1 mx -all',
  dmarc: 'v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}',
  mtaSts: { mode: 'testing' as const, maxAge: 604800 },
  tlsRpt: 'v=TLSRPTv1; rua=mailto:tls-reports@{domain}',
};
const STS_ID = ourStsPolicy({ ...settings.mtaSts, mailHostname: settings.mailHostname }).id;
const records = expectedRecords('example.org', settings, [{ selector: 'ed1', algorithm: 'ed25519', publicKey: 'AAAA', status: 'active' }]);
const rec = (kind: string) => records.find((r) => r.kind === kind)!;
const ok = (...values: string[]): Answer => ({ ok: true, values });
const check = (kind: string, a: Answer) => {
  const r = checkRecord(rec(kind), a, settings.mailHostname);
  return [r.status, r.detail ?? null];
};

describe('dns doctor', () => {
  it('proposes MX, SPF, each DKIM selector, DMARC, MTA-STS (with the served policy\'s id) and TLS-RPT', () => {
    expect(records.map((r) => [r.kind, r.type, r.name, r.value, r.required])).toEqual([
      ['mx', 'MX', 'example.org', '10 mx.hopmail.test.', true],
      ['spf', 'TXT', 'example.org', 'v=spf1 mx -all', true],
      ['dkim', 'TXT', 'ed1._domainkey.example.org', 'v=DKIM1; k=ed25519; p=AAAA', true],
      ['dmarc', 'TXT', '_dmarc.example.org', 'v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org', true],
      ['mta-sts', 'TXT', '_mta-sts.example.org', `v=STSv1; id=${STS_ID}`, false],
      ['tls-rpt', 'TXT', '_smtp._tls.example.org', 'v=TLSRPTv1; rua=mailto:tls-reports@example.org', false],
    ]);
  });

  it.each([
    ['mx', ok('10 mx.hopmail.test.', '20 backup.test.'), 'ok'],
    ['mx', ok('10 MX.Hopmail.Test'), 'ok'],
    ['mx', ok('10 other.test.'), 'mismatch'],
    ['mx', { ok: false, kind: 'nxdomain', code: 'ENOTFOUND' } as Answer, 'missing'],
    ['mx', { ok: false, kind: 'temporary', code: 'ESERVFAIL' } as Answer, 'unknown'],
    ['spf', ok('v=spf1 mx -all'), 'ok'],
    ['spf', ok('google-site-verification=x', 'v=spf1 ip4:192.0.2.1 mx ~all'), 'ok'],
    ['spf', ok('v=spf1 a -all'), 'mismatch'],
    ['spf', ok('v=spf1 mx -all', 'v=spf1 a -all'), 'mismatch'],
    ['spf', ok('something else'), 'missing'],
    ['dkim', ok('v=DKIM1; k=ed25519; p=AAAA'), 'ok'],
    ['dkim', ok('v=DKIM1;k=ed25519;p=AA AA'), 'ok'],
    ['dkim', ok('v=DKIM1; k=rsa; p=AAAA'), 'mismatch'],
    ['dkim', ok('v=DKIM1; k=ed25519; p=BBBB'), 'mismatch'],
    ['dkim', ok('v=DKIM1; k=ed25519; p='), 'mismatch'],
    ['dkim', { ok: false, kind: 'nodata', code: 'ENODATA' } as Answer, 'missing'],
    ['dmarc', ok('v=DMARC1; p=reject'), 'ok'],
    ['dmarc', ok('v=DMARC1; p=quarantine; pct=100'), 'ok'],
    ['dmarc', ok('v=DMARC1; p=none'), 'mismatch'],
    ['dmarc', ok('v=DMARC1; p=bogus'), 'mismatch'],
    ['dmarc', ok('v=DMARC1; p=reject', 'v=DMARC1; p=none'), 'mismatch'],
    ['mta-sts', ok(`v=STSv1; id=${STS_ID}`), 'ok'],
    ['mta-sts', ok('v=STSv1; id=1'), 'mismatch'],
    ['mta-sts', ok(`v=STSv1; id=${STS_ID}`, 'v=STSv1; id=2'), 'mismatch'],
    ['tls-rpt', ok(), 'missing'],
  ])('%s %j → %s', (kind, answer, status) => {
    expect(check(kind, answer)[0]).toBe(status);
  });

  it('says what is wrong', () => {
    expect(check('spf', ok('v=spf1 a -all'))[1]).toBe('lacks mx');
    expect(check('dmarc', ok('v=DMARC1; p=none'))[1]).toBe('p=none is weaker than the proposed p=quarantine');
    expect(check('mta-sts', ok('v=STSv1; id=old1'))[1]).toBe(`id differs from the served policy's (${STS_ID}): senders keep the old policy`);
  });

  it('our MTA-STS policy: its text, an id that follows it, and the domain of a policy host', () => {
    const a = ourStsPolicy({ mailHostname: 'MX.Hopmail.Test.', mode: 'enforce', maxAge: 86400 });
    expect(a.body).toBe('version: STSv1\r\nmode: enforce\r\nmx: mx.hopmail.test\r\nmax_age: 86400\r\n');
    expect(a.id).toMatch(/^[0-9a-f]{20}$/);
    expect(ourStsPolicy({ mailHostname: 'mx.hopmail.test', mode: 'testing', maxAge: 86400 }).id).not.toBe(a.id);
    expect(policyDomainOfHost('mta-sts.Example.org:8443')).toBe('example.org');
    expect(policyDomainOfHost('example.org')).toBeNull();
  });
});
