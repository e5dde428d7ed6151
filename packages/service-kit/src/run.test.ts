// The skeleton's shutdown order and exit codes, exercised on a real child process.
import { spawn } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const runTs = fileURLToPath(new URL('./run.ts', import.meta.url));
const loggerTs = fileURLToPath(new URL('./logger.ts', import.meta.url));
const metricsTs = fileURLToPath(new URL('./metrics.ts', import.meta.url));

function child(stopMs: number, timeoutMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'kit-'));
  const file = join(dir, 'svc.ts');
  writeFileSync(
    file,
    `import { runService } from '${runTs}';
import { createLogger, stdoutDestination } from '${loggerTs}';
import { createRegistry } from '${metricsTs}';
// Synchronous writes: the order of lines is what this test reads, even on a loaded machine.
const logger = createLogger('t', 'info', stdoutDestination(true));
await runService({ name: 't', logger, registry: createRegistry('t'), checks: {},
  config: { HEALTH_HOST: '127.0.0.1', HEALTH_PORT: 0, SHUTDOWN_TIMEOUT_MS: ${timeoutMs} },
  app: { start: async () => {}, stop: () => new Promise((r) => setTimeout(r, ${stopMs})) },
  resources: [{ name: 'queues', close: async () => {} }, { name: 'postgres', close: async () => {} }] });`,
  );
  const p = spawn(process.execPath, [file], { cwd: fileURLToPath(new URL('.', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const started = new Promise<void>((r) => p.stdout.on('data', () => out.includes('start.done') && r()));
  const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  return { p, started, exited, events: () => out.split('\n').filter(Boolean).map((l) => JSON.parse(l).event + (JSON.parse(l).step ? ':' + JSON.parse(l).step : '')) };
}

describe('runService', () => {
  it('on SIGTERM stops intake, then closes resources in order, and exits 0', async () => {
    const c = child(100, 30_000);
    await c.started;
    c.p.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(c.events()).toEqual(['start.done', 'shutdown.start', 'shutdown.step:intake', 'shutdown.step:queues', 'shutdown.step:postgres', 'shutdown.step:health', 'shutdown.done']);
  });

  it('exits 1 when the deadline passes', async () => {
    const c = child(60_000, 300);
    await c.started;
    c.p.kill('SIGTERM');
    expect(await c.exited).toBe(1);
    expect(c.events()).toContain('shutdown.deadline');
  });

  it('a second signal forces exit', async () => {
    const c = child(60_000, 60_000);
    await c.started;
    c.p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    c.p.kill('SIGTERM');
    expect(await c.exited).toBe(1);
    expect(c.events()).toContain('shutdown.forced');
  });
});
