import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '@hopmail/config';
import { configSchema } from './config.ts';

const load = (env: Record<string, string>) => loadConfig('routing', configSchema, { env, argv: [] });

describe('routing config', () => {
  it('has a default for every key', () => {
    const c = load({});
    expect(c).toMatchObject({ HEALTH_PORT: 9102, SUBADDRESS_DELIMITER: '+', LOCAL_PART_CASE_SENSITIVE: false, ALIAS_MAX_DEPTH: 10, RECONCILE_INTERVAL_MS: 30_000, RECONCILE_GRACE_MS: 60_000 });
  });

  it.each([
    ['none', ''],
    ['-', '-'],
    ['+', '+'],
  ])('SUBADDRESS_DELIMITER=%j → %j', (value, expected) => {
    expect(load({ SUBADDRESS_DELIMITER: value }).SUBADDRESS_DELIMITER).toBe(expected);
  });

  it('lists every problem at once', () => {
    let err: unknown;
    try {
      load({ SUBADDRESS_DELIMITER: '@', ROUTING_CONCURRENCY: '0', RECONCILE_INTERVAL_MS: 'soon', LOCAL_PART_CASE_SENSITIVE: 'maybe' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const keys = (err as ConfigError).problems.map((p) => p.split(':')[0]).sort();
    expect(keys).toEqual(['LOCAL_PART_CASE_SENSITIVE', 'RECONCILE_INTERVAL_MS', 'ROUTING_CONCURRENCY', 'SUBADDRESS_DELIMITER']);
  });
});
