import { afterEach, describe, expect, it } from 'vitest';
import { createRegistry } from './metrics.ts';
import { startHealthServer, type HealthServer } from './health.ts';

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
});

describe('health server', () => {
  it('serves healthz, readyz with per-check status, metrics, and drains', async () => {
    let dbUp = true;
    server = await startHealthServer({
      host: '127.0.0.1',
      port: 0,
      registry: createRegistry('test'),
      checks: { postgres: async () => { if (!dbUp) throw new Error('connection refused'); }, redis: async () => 'PONG' },
    });
    const get = (p: string) => fetch(`http://127.0.0.1:${server!.port}${p}`);
    expect((await get('/healthz')).status).toBe(200);
    expect(await (await get('/readyz')).json()).toEqual({ status: 'ok', checks: { postgres: 'ok', redis: 'ok' } });
    dbUp = false;
    const down = await get('/readyz');
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'unavailable', checks: { postgres: 'connection refused', redis: 'ok' } });
    const metrics = await (await get('/metrics')).text();
    expect(metrics).toContain('hopmail_process_resident_memory_bytes');
    expect((await get('/nope')).status).toBe(404);
    dbUp = true;
    server.setDraining();
    expect((await get('/readyz')).status).toBe(503);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('times out a hanging check instead of hanging the probe', async () => {
    server = await startHealthServer({ host: '127.0.0.1', port: 0, registry: createRegistry('test'), checks: { slow: () => new Promise(() => {}) } });
    const t0 = Date.now();
    const r = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    expect(r.status).toBe(503);
    expect(Date.now() - t0).toBeLessThan(4000);
  });
});
