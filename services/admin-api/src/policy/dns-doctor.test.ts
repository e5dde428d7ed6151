import { describe, expect, it } from 'vitest';
import { checkRecord, expectedRecords, type Answer } from './dns-doctor.ts';

const settings = { mailHostname: 'mx.hopmail.test', spf: 'v=spf1 mx -all', dmarc: 'v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}' };
const records = expectedRecords('example.org', settings, [{ selector: 'ed1', algorithm: 'ed25519', publicKey: 'AAAA', status: 'active' }]);
const rec = (kind: string) => records.find((r) => r.kind === kind)!;
const ok = (...values: string[]): Answer => ({ ok: true, values });
const check = (kind: string, a: Answer) => {
  const r = checkRecord(rec(kind), a, settings.mailHostname);
  return [r.status, r.detail ?? null];
};

describe('dns doctor', () => {
  it('proposes MX, SPF, each DKIM selector, DMARC and the MTA-STS/TLS-RPT placeholders', () => {
    expect(records.map((r) => [r.kind, r.type, r.name, r.value, r.required])).toEqual([
      ['mx', 'MX', 'example.org', '10 mx.hopmail.test.', true],
      ['spf', 'TXT', 'example.org', 'v=spf1 mx -all', true],
      ['dkim', 'TXT', 'ed1._domainkey.example.org', 'v=DKIM1; k=ed25519; p=AAAA', true],
      ['dmarc', 'TXT', '_dmarc.example.org', 'v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org', true],
      ['mta-sts', 'TXT', '_mta-sts.example.org', 'v=STSv1; id=<policy version>', false],
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
    ['mta-sts', ok('v=STSv1; id=1'), 'ok'],
    ['tls-rpt', ok(), 'missing'],
  ])('%s %j → %s', (kind, answer, status) => {
    expect(check(kind, answer)[0]).toBe(status);
  });

  it('says what is wrong', () => {
    expect(check('spf', ok('v=spf1 a -all'))[1]).toBe('lacks mx');
    expect(check('dmarc', ok('v=DMARC1; p=none'))[1]).toBe('p=none is weaker than the proposed p=quarantine');
  });
});
