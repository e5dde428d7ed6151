// The skeleton's configuration check, dependencies, shutdown order and exit codes, exercised
// on real child processes (real PostgreSQL and Redis where the service declares them).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseUrls, freePort, startPrivateRedis, waitFor } from '@hopmail/test-kit';
import { describe, expect, it } from 'vitest';

const runTs = fileURLToPath(new URL('./run.ts', import.meta.url));
const configTs = fileURLToPath(new URL('../../config/src/index.ts', import.meta.url));
const loggerTs = fileURLToPath(new URL('./logger.ts', import.meta.url));

interface ChildOptions {
  stopMs?: number;
  env?: Record<string, string>;
  needs?: string;
  /** Extra resources build() returns, closed before Redis and PostgreSQL. */
  resources?: string;
}

function child(o: ChildOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'kit-'));
  const file = join(dir, 'svc.ts');
  writeFileSync(
    file,
    `import { runService } from '${runTs}';
import { commonConfig, port, z } from '${configTs}';
import { stdoutDestination } from '${loggerTs}';
const schema = z.object({ ...commonConfig, HEALTH_PORT: port(0, 'health'), EXTRA: z.coerce.number().int().min(1).default(1).describe('a setting') });
// Synchronous writes: the order of lines is what this test reads, even on a loaded machine.
await runService({ name: 't', schema, needs: ${o.needs ?? '{}'}, logDestination: stdoutDestination(true),
  build: () => ({ start: async () => {}, stop: () => new Promise((r) => setTimeout(r, ${o.stopMs ?? 100})),
    resources: ${o.resources ?? "[{ name: 'queues', close: async () => {} }, { name: 'store', close: async () => {} }]"} }) });`,
  );
  const p = spawn(process.execPath, [file], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    // LOG_LEVEL info: the order of lines is what these tests read.
    env: { ...process.env, HEALTH_HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: '30000', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const lines = () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  const started = new Promise<void>((r) => p.stdout.on('data', () => out.includes('start.done') && r()));
  const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  return {
    p,
    started,
    exited,
    lines,
    stderr: () => err,
    events: () => lines().map((l) => String(l.event) + (l.step ? ':' + String(l.step) : '')),
  };
}

describe('runService', () => {
  it('on SIGTERM stops intake, then closes resources in order, and exits 0', async () => {
    const c = child({});
    await c.started;
    c.p.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(c.events()).toEqual(['start.done', 'shutdown.start', 'shutdown.step:intake', 'shutdown.step:queues', 'shutdown.step:store', 'shutdown.step:health', 'shutdown.done']);
  });

  it('exits 1 when the deadline passes', async () => {
    const c = child({ stopMs: 60_000, env: { SHUTDOWN_TIMEOUT_MS: '300' } });
    await c.started;
    c.p.kill('SIGTERM');
    expect(await c.exited).toBe(1);
    expect(c.events()).toContain('shutdown.deadline');
  });

  it('a second signal forces exit', async () => {
    const c = child({ stopMs: 60_000 });
    await c.started;
    c.p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    c.p.kill('SIGTERM');
    expect(await c.exited).toBe(1);
    expect(c.events()).toContain('shutdown.forced');
  });

  it('a bad configuration lists every problem and exits 78 before connecting to anything', async () => {
    const c = child({ env: { EXTRA: '0', SHUTDOWN_TIMEOUT_MS: 'soon', DATABASE_URL: 'postgres://127.0.0.1:1/never' }, needs: "{ postgres: true, redis: 'queue' }" });
    expect(await c.exited).toBe(78);
    const fatal = c.lines().find((l) => l.event === 'config.invalid') as { problems: string[] } | undefined;
    expect(fatal?.problems).toHaveLength(2);
    expect(c.stderr()).toMatch(/SHUTDOWN_TIMEOUT_MS: .*\n.*EXTRA: /);
  });

  it('with PostgreSQL and Redis: both are readiness checks, and they close after the app’s own resources, Redis first', async () => {
    const healthPort = await freePort();
    const c = child({
      env: { DATABASE_URL: baseUrls().databaseUrl, REDIS_URL: baseUrls().redisUrl, HEALTH_PORT: String(healthPort) },
      needs: "{ postgres: true, redis: 'queue' }",
      resources: "[{ name: 'listener', close: async () => {} }]",
    });
    await c.started;
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { postgres: 'ok', redis: 'ok' } });
    c.p.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(c.events().filter((e) => e.startsWith('shutdown.step'))).toEqual(['shutdown.step:intake', 'shutdown.step:listener', 'shutdown.step:redis', 'shutdown.step:postgres', 'shutdown.step:health']);
  });

  it('warns loudly at start when PostgreSQL would acknowledge commits it may lose (synchronous_commit or fsync off), and not when they are on', async () => {
    const url = new URL(baseUrls().databaseUrl);
    url.searchParams.set('options', '-c synchronous_commit=off');
    const lax = child({ env: { DATABASE_URL: url.toString() }, needs: '{ postgres: true }' });
    await lax.started;
    const warned = await waitFor(async () => lax.lines().find((l) => l.event === 'postgres.not-durable'), { what: 'the durability warning' });
    expect(warned).toMatchObject({ level: 'warn', setting: 'synchronous_commit', value: 'off' });
    expect(String(warned.msg)).toMatch(/250/);
    lax.p.kill('SIGTERM');
    expect(await lax.exited).toBe(0);

    const strict = child({ env: { DATABASE_URL: baseUrls().databaseUrl }, needs: '{ postgres: true }' });
    await strict.started;
    strict.p.kill('SIGTERM');
    expect(await strict.exited).toBe(0);
    expect(strict.events()).not.toContain('postgres.not-durable');
  });

  it('refuses an evicting Redis for queues and limits, but a cache starts on it', async () => {
    const lru = await startPrivateRedis();
    try {
      const { Redis } = await import('ioredis');
      const r = new Redis(lru.url);
      await r.config('SET', 'maxmemory-policy', 'allkeys-lru');
      r.disconnect();
      for (const role of ['queue', 'fail-fast']) {
        const c = child({ env: { REDIS_URL: lru.url }, needs: `{ redis: '${role}' }` });
        expect(await c.exited).toBe(1);
        expect(c.events()).toContain('redis.eviction-policy');
        expect(c.events()).not.toContain('start.done');
      }
      const cache = child({ env: { REDIS_URL: lru.url }, needs: "{ redis: 'cache' }" });
      await cache.started;
      cache.p.kill('SIGTERM');
      expect(await cache.exited).toBe(0);
    } finally {
      await lru.stop();
    }
  });
});
