import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@hopmail/config';
import { configSchema } from './config.ts';

const load = (env: Record<string, string>) => loadConfig('housekeeper', configSchema, { env, argv: [] });

describe('TLSRPT_FROM', () => {
  it('may not be the TLS-RPT report address: routing takes only reports there, so bounces of our reports would be lost', () => {
    for (const from of ['tls-reports@example.org', 'TLS-Reports@Example.ORG']) {
      let err: unknown;
      try {
        load({ TLSRPT_FROM: from });
      } catch (e) {
        err = e;
      }
      expect(err, from).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join('\n')).toMatch(/^TLSRPT_FROM: is the TLS-RPT report address \(TLSRPT_LOCAL_PART\)/);
    }
    expect(() => load({ TLSRPT_FROM: 'reports@example.org', TLSRPT_LOCAL_PART: 'reports' })).toThrow(ConfigError);
  });

  it('any other address, none, or the default address under another TLSRPT_LOCAL_PART starts', () => {
    expect(load({ TLSRPT_FROM: 'noreply-tlsrpt@example.org' }).TLSRPT_FROM).toBe('noreply-tlsrpt@example.org');
    expect(load({}).TLSRPT_FROM).toBe('');
    expect(load({ TLSRPT_FROM: 'tls-reports@example.org', TLSRPT_LOCAL_PART: 'smtp-tls' }).TLSRPT_LOCAL_PART).toBe('smtp-tls');
    expect(load({ TLSRPT_FROM: 'tls-reportsx' }).TLSRPT_FROM).toBe('tls-reportsx');
  });
});
