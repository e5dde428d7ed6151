import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type client from 'prom-client';
import { TimeoutError, withTimeout } from './timeout.ts';

export type ReadinessChecks = Record<string, () => Promise<unknown>>;

export interface HealthServer {
  port: number;
  /** Readiness turns 503 first thing on shutdown so load balancers drain us. */
  setDraining(): void;
  close(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 2000;

export async function runChecks(checks: ReadinessChecks): Promise<{ ok: boolean; checks: Record<string, string> }> {
  const results: Record<string, string> = {};
  let ok = true;
  await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), CHECK_TIMEOUT_MS, name);
        results[name] = 'ok';
      } catch (err) {
        ok = false;
        results[name] = err instanceof TimeoutError ? 'timeout' : (err as Error).message || 'failed';
      }
    }),
  );
  return { ok, checks: results };
}

/** `/healthz` (process alive), `/readyz` (dependencies reachable), `/metrics` (Prometheus). */
export async function startHealthServer(options: { host: string; port: number; registry: client.Registry; checks: ReadinessChecks }): Promise<HealthServer> {
  let draining = false;
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: { code: 'method_not_allowed', message: 'GET only' } });
    if (url === '/healthz') return send(200, { status: 'ok' });
    if (url === '/readyz') {
      if (draining) return send(503, { status: 'draining' });
      runChecks(options.checks).then(
        (r) => send(r.ok ? 200 : 503, { status: r.ok ? 'ok' : 'unavailable', checks: r.checks }),
        () => send(503, { status: 'unavailable' }),
      );
      return;
    }
    if (url === '/metrics') {
      options.registry.metrics().then(
        (text) => send(200, text, options.registry.contentType),
        (err: Error) => send(500, { error: { code: 'metrics_failed', message: err.message } }),
      );
      return;
    }
    send(404, { error: { code: 'not_found', message: 'try /healthz, /readyz or /metrics' } });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    setDraining: () => {
      draining = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
