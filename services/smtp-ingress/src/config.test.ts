import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, loadConfig } from '@hopmail/config';
import { configSchema } from './config.ts';

describe('config', () => {
  it('has a default and a description for every key', () => {
    const c = loadConfig('smtp-ingress', configSchema, { env: {}, argv: [] });
    expect(c).toMatchObject({ SMTP_PORT: 2525, HEALTH_PORT: 9101, SMTP_MAX_RECIPIENTS: 100, SMTP_MAX_LINE_LENGTH: 512, SMTP_MAX_RECEIVED_HEADERS: 50, SUBADDRESS_DELIMITER: '+' });
    for (const row of describeConfig(configSchema)) {
      expect(row.default, row.key).not.toBeUndefined();
      expect(row.description, row.key).not.toBe('');
    }
  });

  it('lists every problem at once', () => {
    try {
      loadConfig('smtp-ingress', configSchema, { env: { SMTP_MAX_RECIPIENTS: '99', SMTP_MAX_LINE_LENGTH: '100', SMTP_PORT: 'x', SMTP_HOSTNAME: 'bad host' }, argv: [] });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const keys = (err as ConfigError).problems.map((p) => p.split(':')[0]).sort();
      expect(keys).toEqual(['SMTP_HOSTNAME', 'SMTP_MAX_LINE_LENGTH', 'SMTP_MAX_RECIPIENTS', 'SMTP_PORT']);
    }
  });

  it('RSPAMD_URL: http(s), an absolute unix: socket path, or empty', () => {
    for (const v of ['', 'http://rspamd:11333', 'https://rspamd.example:443', 'unix:/run/rspamd/normal.sock']) {
      expect(loadConfig('smtp-ingress', configSchema, { env: { RSPAMD_URL: v }, argv: [] }).RSPAMD_URL).toBe(v);
    }
    for (const v of ['rspamd:11333', 'unix:normal.sock', 'ftp://rspamd', 'unix:/run/with space.sock']) {
      expect(() => loadConfig('smtp-ingress', configSchema, { env: { RSPAMD_URL: v }, argv: [] }), v).toThrow(/RSPAMD_URL/);
    }
  });

  it('keeps the drain inside the shutdown deadline', () => {
    expect(() => loadConfig('smtp-ingress', configSchema, { env: { SMTP_CLOSE_TIMEOUT_MS: '30000', SHUTDOWN_TIMEOUT_MS: '25000' }, argv: [] })).toThrow(/SMTP_CLOSE_TIMEOUT_MS must be below/);
  });
});
