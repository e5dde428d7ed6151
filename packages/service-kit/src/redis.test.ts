// The start-up check against real redis-server processes of this test's own, each started
// with the eviction policy and persistence under test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@hopmail/test-kit';
import { assertQueueRedis, RedisPolicyError } from './redis.ts';

const started: { child: ChildProcess; redis: Redis; dir: string }[] = [];

async function redisWith(args: string[]): Promise<Redis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'redis-policy-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...args], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(async () => {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => {}); // not listening yet
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  }, { what: 'redis-server' });
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  started.push({ child, redis, dir });
  return redis;
}

function recorder() {
  const lines: { level: string; event: string }[] = [];
  return {
    lines,
    warn: (obj: object) => void lines.push({ level: 'warn', event: (obj as { event: string }).event }),
    error: (obj: object) => void lines.push({ level: 'error', event: (obj as { event: string }).event }),
  };
}

afterAll(async () => {
  for (const s of started) {
    s.redis.disconnect();
    s.child.kill('SIGKILL');
    rmSync(s.dir, { recursive: true, force: true });
  }
});

describe('assertQueueRedis', () => {
  it('accepts noeviction with AOF silently', async () => {
    const redis = await redisWith(['--maxmemory-policy', 'noeviction', '--appendonly', 'yes', '--save', '']);
    const log = recorder();
    expect(await assertQueueRedis(redis, log)).toEqual({ maxmemoryPolicy: 'noeviction', persistence: 'aof' });
    expect(log.lines).toEqual([]);
  });

  it('waits for a connection made without an offline queue to be ready', async () => {
    const first = await redisWith(['--maxmemory-policy', 'noeviction', '--appendonly', 'yes']);
    const redis = new Redis(first.options.port!, '127.0.0.1', { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    try {
      expect(redis.status).not.toBe('ready');
      expect((await assertQueueRedis(redis, recorder())).persistence).toBe('aof');
    } finally {
      redis.disconnect();
    }
  });

  it.each(['allkeys-lru', 'volatile-lru', 'allkeys-random', 'volatile-ttl'])('refuses maxmemory-policy %s', async (policy) => {
    const redis = await redisWith(['--maxmemory-policy', policy, '--appendonly', 'yes']);
    const log = recorder();
    const err = await assertQueueRedis(redis, log).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisPolicyError);
    expect((err as RedisPolicyError).code).toBe('redis.eviction-policy');
    expect((err as RedisPolicyError).message).toContain(policy);
    expect(log.lines).toEqual([{ level: 'error', event: 'redis.eviction-policy' }]);
  });

  it('warns loudly when Redis persists nothing', async () => {
    const redis = await redisWith(['--maxmemory-policy', 'noeviction', '--appendonly', 'no', '--save', '']);
    const log = recorder();
    expect((await assertQueueRedis(redis, log)).persistence).toBe('none');
    expect(log.lines).toEqual([{ level: 'warn', event: 'redis.no-persistence' }]);
  });

  it('warns when Redis only takes RDB snapshots', async () => {
    const redis = await redisWith(['--maxmemory-policy', 'noeviction', '--appendonly', 'no', '--save', '3600 1']);
    const log = recorder();
    expect((await assertQueueRedis(redis, log)).persistence).toBe('rdb');
    expect(log.lines).toEqual([{ level: 'warn', event: 'redis.snapshot-only' }]);
  });

  it('still checks the policy when CONFIG is disabled (managed Redis)', async () => {
    const lru = await redisWith(['--maxmemory-policy', 'allkeys-lru', '--appendonly', 'no', '--save', '', '--rename-command', 'CONFIG', '""']);
    await expect(assertQueueRedis(lru, recorder())).rejects.toBeInstanceOf(RedisPolicyError);
    const ok = await redisWith(['--maxmemory-policy', 'noeviction', '--appendonly', 'no', '--save', '', '--rename-command', 'CONFIG', '""']);
    const log = recorder();
    expect((await assertQueueRedis(ok, log)).persistence).toBe('unknown');
    expect(log.lines).toEqual([{ level: 'warn', event: 'redis.persistence-unknown' }]);
  });

  it('gives up after the timeout when Redis does not answer', async () => {
    const port = await freePort();
    const redis = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: null, retryStrategy: () => 200 });
    redis.on('error', () => {});
    try {
      await expect(assertQueueRedis(redis, recorder(), { timeoutMs: 300 })).rejects.toThrow(/did not answer/);
    } finally {
      redis.disconnect();
    }
  });
});
