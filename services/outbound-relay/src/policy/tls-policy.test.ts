import { describe, expect, it } from 'vitest';
import { allowedHosts, checkSession, connectMode, requirementFor, resultTypeOf, type DomainTls, type TlsFacts } from './tls-policy.ts';

const sts = (mode: 'enforce' | 'testing' | 'none'): DomainTls => ({ source: 'sts', policy: { id: 'p1', mode, mx: ['mx.example'], maxAge: 60, expiresAt: new Date(8e15) } });
const op = (policy: 'none' | 'may' | 'encrypt' | 'dane' | 'verify', fingerprints: string[] = []): DomainTls => ({ source: 'operator', policy: { policy, caPem: null, fingerprints } });
const facts = (f: Partial<TlsFacts>): TlsFacts => ({ secure: true, authorized: true, authorizationError: null, fingerprint: 'aa', ...f });

describe('requirement and connect mode per policy', () => {
  it.each([
    [{ source: 'none' } as DomainTls, 'may', 'may'],
    [sts('enforce'), 'sts', 'require'],
    [sts('testing'), 'sts', 'may'],
    [sts('none'), 'may', 'may'],
    [op('none'), 'none', 'none'],
    [op('may'), 'may', 'may'],
    [op('encrypt'), 'encrypt', 'require'],
    [op('dane'), 'encrypt', 'require'],
    [op('verify'), 'verify', 'require'],
  ])('%j → %s, %s', (tls, level, mode) => {
    const req = requirementFor(tls);
    expect(req.level).toBe(level);
    expect(connectMode(req)).toBe(mode);
  });
});

describe('MX hosts an enforced policy allows', () => {
  it('enforce keeps the matching ones in order; testing and no policy keep all', () => {
    expect(allowedHosts(sts('enforce'), ['evil.example', 'mx.example'])).toEqual({ allowed: ['mx.example'], refused: ['evil.example'] });
    expect(allowedHosts(sts('testing'), ['evil.example'])).toEqual({ allowed: ['evil.example'], refused: [] });
    expect(allowedHosts(op('verify'), ['evil.example'])).toEqual({ allowed: ['evil.example'], refused: [] });
  });
});

describe('checkSession', () => {
  const enforce = requirementFor(sts('enforce'));
  const testing = requirementFor(sts('testing'));
  it.each([
    ['enforce, verified', enforce, facts({}), { ok: true }],
    ['enforce, plaintext', enforce, facts({ secure: false }), { ok: false, enforced: true, resultType: 'starttls-not-supported', detail: 'the session is not encrypted' }],
    ['enforce, self-signed', enforce, facts({ authorized: false, authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), { ok: false, enforced: true, resultType: 'certificate-not-trusted', detail: 'DEPTH_ZERO_SELF_SIGNED_CERT' }],
    ['testing, wrong name: reported only', testing, facts({ authorized: false, authorizationError: 'ERR_TLS_CERT_ALTNAME_INVALID' }), { ok: false, enforced: false, resultType: 'certificate-host-mismatch', detail: 'ERR_TLS_CERT_ALTNAME_INVALID' }],
    ['encrypt, unverified', requirementFor(op('encrypt')), facts({ authorized: false }), { ok: true }],
    ['may, plaintext', requirementFor(op('may')), facts({ secure: false }), { ok: true }],
    ['verify pinned, match', requirementFor(op('verify', ['aa'])), facts({ authorized: false }), { ok: true }],
    ['verify pinned, other', requirementFor(op('verify', ['bb'])), facts({}), { ok: false, enforced: true, resultType: 'certificate-not-trusted', detail: 'certificate SHA-256 aa is not pinned' }],
  ])('%s', (_, req, f, want) => expect(checkSession(req, f)).toEqual(want));

  it('maps Node verification codes to RFC 8460 result types', () => {
    expect(resultTypeOf('CERT_HAS_EXPIRED')).toBe('certificate-expired');
    expect(resultTypeOf('UNABLE_TO_VERIFY_LEAF_SIGNATURE')).toBe('certificate-not-trusted');
    expect(resultTypeOf('SOMETHING_NEW')).toBe('validation-failure');
  });
});
