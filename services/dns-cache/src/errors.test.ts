import { describe, expect, it } from 'vitest';
import { CodedError, isPermanent } from '@hopmail/service-kit';
import { ERRORS, UpstreamError } from './errors.ts';

describe('dns-cache errors', () => {
  it('an UpstreamError carries its kind (the reason label), code, upstream and cause', () => {
    const cause = new Error('ECONNREFUSED');
    const e = new UpstreamError('bad-reply', '192.0.2.53:53', 'label runs past the end', cause);
    expect(e).toBeInstanceOf(CodedError);
    expect(e).toMatchObject({ name: 'UpstreamError', kind: 'bad-reply', code: 'dns-cache.upstream-bad-reply', upstream: '192.0.2.53:53', message: 'label runs past the end', temporary: true });
    expect(e.cause).toBe(cause);
    expect(isPermanent(e)).toBe(false);
    expect(new UpstreamError('timeout', '-').message).toBe(ERRORS.timeout.message);
  });
  it('every code is prefixed with the service and every upstream failure is temporary', () => {
    for (const spec of Object.values(ERRORS)) {
      expect(spec.code).toMatch(/^dns-cache\./);
      expect(spec.temporary).toBe(true);
    }
  });
});
