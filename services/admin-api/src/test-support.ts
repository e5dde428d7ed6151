// Helpers for this service's integration tests (not a test file itself).
import { Writable } from 'node:stream';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { createLogger, createRegistry, type prom } from '@hopmail/service-kit';
import { argon2idHasher } from './adapters/password.ts';
import { createApp, type AdminApp } from './app.ts';
import { configSchema } from './config.ts';

export const TOKEN = 'test-token-0123456789abcdefghijklmnop';

export interface TestApi {
  db: TestDatabase;
  app: AdminApp;
  registry: prom.Registry;
  base: string;
  /** Every log line written so far, raw. */
  logText(): string;
  /** fetch with the bearer token and a JSON body when given. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  const db = await createTestDatabase();
  const config = configSchema.parse({ DATABASE_URL: db.url, ADMIN_TOKEN: TOKEN, ADMIN_PORT: '0', HEALTH_PORT: '0', ...env });
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger('admin-api', 'debug', sink);
  const registry = createRegistry('admin-api');
  // Small Argon2id parameters keep the tests fast; the format ($argon2id$) is the same.
  const app = createApp({ config, logger, registry, pool: db.pool, hasher: argon2idHasher({ memoryKib: 1024, timeCost: 1, parallelism: 1 }) });
  await app.start();
  const base = `http://127.0.0.1:${app.port()}`;
  return {
    db,
    app,
    registry,
    base,
    logText: () => chunks.join(''),
    async call(method, path, body, headers = {}) {
      const h: Record<string, string> = { authorization: `Bearer ${TOKEN}`, ...headers };
      let payload: string | undefined;
      if (body !== undefined) {
        payload = typeof body === 'string' ? body : JSON.stringify(body);
        h['content-type'] ??= 'application/json';
      }
      const res = await fetch(base + path, { method, headers: h, body: payload });
      const text = await res.text();
      let json: unknown = undefined;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = text;
      }
      return { status: res.status, json, headers: res.headers };
    },
    async close() {
      await app.stop();
      await db.drop();
    },
  };
}
