import { describe, expect, it } from 'vitest';
import { mailAuthPolicy, type AuthResults, type InboundPolicy } from './mail-auth-policy.ts';

const base: AuthResults = {
  authservId: 'mx.test',
  header: 'mx.test; none',
  spf: { result: 'pass', domain: 'a.test', identity: 'mailfrom' },
  dkim: [],
  dkimSkipped: 0,
  dmarc: { result: 'pass', domain: 'a.test', policy: 'reject' },
  arc: { result: 'none', instance: null },
};
const enforce: InboundPolicy = { dmarcEnforce: true, spfReject: false, authorLocal: false };
const lax: InboundPolicy = { dmarcEnforce: false, spfReject: false, authorLocal: false };
const r = (over: Partial<AuthResults>): AuthResults => ({ ...base, ...over });
const dkimRow = (result: AuthResults['dkim'][number]['result']) => ({ result, domain: 'd.test', selector: 's', algorithm: 'rsa-sha256', aligned: false });

describe('mailAuthPolicy', () => {
  it.each([
    ['all pass', r({}), enforce, 'accept', undefined, false],
    ['spf temperror', r({ spf: { ...base.spf, result: 'temperror' } }), enforce, 'defer', '4.7.24', false],
    ['dkim temperror', r({ dkim: [dkimRow('pass'), dkimRow('temperror')] }), enforce, 'defer', '4.7.5', false],
    ['dmarc temperror', r({ dmarc: { ...base.dmarc, result: 'temperror' } }), enforce, 'defer', '4.7.0', false],
    ['arc temperror', r({ arc: { result: 'temperror', instance: 1 } }), enforce, 'defer', '4.7.0', false],
    ['temperror beats p=reject', r({ spf: { ...base.spf, result: 'temperror' }, dmarc: { ...base.dmarc, result: 'fail' } }), enforce, 'defer', '4.7.24', false],
    ['dmarc fail, p=reject, enforced', r({ dmarc: { ...base.dmarc, result: 'fail' } }), enforce, 'reject', '5.7.1', false],
    ['dmarc fail, p=reject, not enforced: marked', r({ dmarc: { ...base.dmarc, result: 'fail' } }), lax, 'accept', undefined, true],
    ['dmarc fail, p=reject, not enforced but our own domain', r({ dmarc: { ...base.dmarc, result: 'fail' } }), { ...lax, authorLocal: true }, 'reject', '5.7.1', false],
    ['dmarc fail, p=quarantine', r({ dmarc: { ...base.dmarc, result: 'fail', policy: 'quarantine' } }), enforce, 'accept', undefined, true],
    ['dmarc fail, p=none', r({ dmarc: { ...base.dmarc, result: 'fail', policy: 'none' } }), enforce, 'accept', undefined, false],
    ['spf fail alone, default', r({ spf: { ...base.spf, result: 'fail' }, dmarc: { ...base.dmarc, result: 'none', policy: null } }), enforce, 'accept', undefined, false],
    ['spf fail, domain refuses it', r({ spf: { ...base.spf, result: 'fail' }, dmarc: { ...base.dmarc, result: 'none', policy: null } }), { ...enforce, spfReject: true }, 'reject', '5.7.23', false],
    ['spf permerror', r({ spf: { ...base.spf, result: 'permerror' } }), { ...enforce, spfReject: true }, 'accept', undefined, false],
  ] as const)('%s', (_what, results, policy, kind, enhanced, quarantine) => {
    const d = mailAuthPolicy(results, policy);
    if (d.kind === 'accept') {
      expect(kind).toBe('accept');
      expect(d.quarantine).toBe(quarantine);
    } else {
      expect(d.verdict.kind).toBe(kind);
      expect(d.verdict.enhanced).toBe(enhanced);
      expect(d.verdict.code).toBe(kind === 'defer' ? 451 : 550);
    }
  });

  it('the 550 says why', () => {
    const d = mailAuthPolicy(r({ spf: { ...base.spf, result: 'fail' }, dmarc: { ...base.dmarc, result: 'fail', reason: 'p=REJECT' } }), enforce);
    expect(d.kind === 'refuse' && d.verdict.text).toBe('Message rejected: it fails the DMARC policy (p=reject) of a.test (p=REJECT); spf=fail dkim=none');
  });
});
