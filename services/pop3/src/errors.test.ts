import { describe, expect, it } from 'vitest';
import { isPermanent } from '@hopmail/service-kit';
import { ERRORS, Pop3Error } from './errors.ts';

describe('pop3 errors', () => {
  it('carry their code, POP3 response code and temporariness from the registry', () => {
    const cause = new Error('connection terminated');
    const e = new Pop3Error('maildropLost', undefined, cause);
    expect(e).toMatchObject({ name: 'Pop3Error', kind: 'maildropLost', code: 'pop3.maildrop-lost', pop3: 'SYS/TEMP', temporary: true, message: ERRORS.maildropLost.message });
    expect(e.cause).toBe(cause);
    expect(isPermanent(e)).toBe(false);
  });
  it('every code is prefixed with the service and every entry has a POP3 response code', () => {
    for (const spec of Object.values(ERRORS)) {
      expect(spec.code).toMatch(/^pop3\./);
      expect(spec.pop3).toMatch(/^[A-Z-]+(\/[A-Z-]+)*$/);
    }
  });
});
