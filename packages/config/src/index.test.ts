import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { availableCpus, ConfigError, commonConfig, describeConfig, loadConfig, port, redact, z } from './index.ts';

const schema = z.object({ ...commonConfig, SMTP_PORT: port(2525, 'SMTP port'), ADMIN_TOKEN: z.string().min(8).describe('token') });

describe('loadConfig', () => {
  it('applies defaults and coerces numbers', () => {
    const c = loadConfig('t', schema, { env: { ADMIN_TOKEN: 'abcdefghijk', SMTP_PORT: '2600' }, argv: [] });
    expect(c.SMTP_PORT).toBe(2600);
    expect(c.REDIS_PREFIX).toBe('hopmail');
  });

  it('lists every problem at once and never echoes secrets', () => {
    let err: unknown;
    try {
      loadConfig('t', schema, { env: { SMTP_PORT: '99999', LOG_LEVEL: 'loud', ADMIN_TOKEN: 'short' }, argv: [] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toContain('SMTP_PORT');
    expect(problems.join('\n')).toContain('"loud"');
    expect(problems.join('\n')).not.toContain('short');
  });

  it('redacts secrets and URL passwords for --print-config', () => {
    expect(redact({ ADMIN_TOKEN: 'sekrit', REDIS_URL: 'redis://u:pw@h:6379', X: 1 })).toEqual({ ADMIN_TOKEN: '***', REDIS_URL: 'redis://u:***@h:6379', X: 1 });
  });

  it('describes every key with its default', () => {
    const rows = describeConfig(schema);
    expect(rows.find((r) => r.key === 'SMTP_PORT')).toEqual({ key: 'SMTP_PORT', default: 2525, description: 'SMTP port' });
    expect(rows.every((r) => r.description.length > 0)).toBe(true);
  });
});

describe('availableCpus', () => {
  const cgroup = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'hopmail-cgroup-'));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    return dir;
  };
  const cpus = availableParallelism();

  it('the CPUs the process may run on, fewer under a cgroup quota (v2 and v1), rounded up, at least 1', () => {
    const cases: [Record<string, string>, number][] = [
      [{}, cpus],
      [{ 'cpu.max': 'max 100000\n' }, cpus],
      [{ 'cpu.max': '100000 100000\n' }, 1],
      [{ 'cpu.max': '150000 100000\n' }, Math.min(cpus, 2)],
      [{ 'cpu.max': '20000 100000\n' }, 1],
      [{ 'cpu.max': '6400000 100000\n' }, cpus],
      [{ 'cpu/cpu.cfs_quota_us': '-1\n', 'cpu/cpu.cfs_period_us': '100000\n' }, cpus],
      [{ 'cpu/cpu.cfs_quota_us': '100000\n', 'cpu/cpu.cfs_period_us': '100000\n' }, 1],
      [{ 'cpu.max': 'garbage\n' }, cpus],
    ];
    for (const [files, want] of cases) {
      const dir = cgroup(files);
      try {
        expect(availableCpus(dir), JSON.stringify(files)).toBe(want);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
