// Helpers for this service's integration tests (not a test file itself).
import { Writable } from 'node:stream';
import { baseUrls, createTestDatabase, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import { queueRedis } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { createLogger, createRegistry, type prom } from '@hopmail/service-kit';
import { argon2idHasher } from './adapters/password.ts';
import { createApp, type AdminApp } from './app.ts';
import { configSchema, type Config } from './config.ts';

export const TOKEN = 'test-token-0123456789abcdefghijklmnop';

export interface TestApi {
  db: TestDatabase;
  redis: Redis;
  prefix: string;
  config: Config;
  app: AdminApp;
  registry: prom.Registry;
  base: string;
  /** Every log line written so far, raw. */
  logText(): string;
  /** fetch with the bearer token and a JSON body when given. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; headers: Headers }>;
  /** The same with another bearer token (an API key). */
  as(token: string): (method: string, path: string, body?: unknown) => Promise<{ status: number; json: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  const db = await createTestDatabase();
  const prefix = redisPrefix();
  const config = configSchema.parse({
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: prefix,
    ADMIN_TOKEN: TOKEN,
    ADMIN_PORT: '0',
    HEALTH_PORT: '0',
    EVENTS_PUBLISH_INTERVAL_MS: '50',
    WEBHOOK_POLL_INTERVAL_MS: '50',
    // Test receivers listen on 127.0.0.1; the SSRF filter has tests of its own.
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...env,
  });
  const redis = queueRedis(config.REDIS_URL);
  redis.on('error', () => {});
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
  const app = createApp({ config, logger, registry, pool: db.pool, redis, hasher: argon2idHasher({ memoryKib: 1024, timeCost: 1, parallelism: 1 }) });
  await app.start();
  const base = `http://127.0.0.1:${app.port()}`;
  const call = async (method: string, path: string, body: unknown, headers: Record<string, string>) => {
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
    return { status: res.status, json: json as any, headers: res.headers };
  };
  return {
    db,
    redis,
    prefix,
    config,
    app,
    registry,
    base,
    logText: () => chunks.join(''),
    call: (method, path, body, headers = {}) => call(method, path, body, headers),
    as: (token) => (method, path, body) => call(method, path, body, { authorization: `Bearer ${token}` }),
    async close() {
      await app.stop();
      await redis.quit();
      await db.drop();
    },
  };
}
