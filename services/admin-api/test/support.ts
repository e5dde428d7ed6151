// admin-api in this process for integration tests, on a fresh database and Redis prefix.
// buildTestApi() answers through Fastify's inject() (no socket: most route tests);
// startTestApi() listens on a port (the CLI, clusters, tests about sockets).
import { baseUrls, createTestDatabase, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import { createLogger, createRegistry, queueRedis, type prom } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { argon2idHasher } from '../src/adapters/password.ts';
import { createApp, type AdminApp } from '../src/app.ts';
import { configSchema, type Config } from '../src/config.ts';

export const TOKEN = 'test-token-0123456789abcdefghijklmnop';

export interface ApiResponse {
  status: number;
  json: any;
  headers: Headers;
}

/** The admin API with its database and Redis, and a client for it. */
export interface ApiHarness {
  db: TestDatabase;
  redis: Redis;
  prefix: string;
  config: Config;
  app: AdminApp;
  registry: prom.Registry;
  /** Every log line written so far, raw. */
  logText(): string;
  /** A request with the bearer token and a JSON body when given. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiResponse>;
  /** The same with another bearer token (an API key). */
  as(token: string): (method: string, path: string, body?: unknown) => Promise<ApiResponse>;
  close(): Promise<void>;
}

/** A harness whose API listens on a socket. */
export interface TestApi extends ApiHarness {
  base: string;
}

type Send = (request: { method: string; path: string; headers: Record<string, string>; payload: string | undefined }) => Promise<{ status: number; text: string; headers: Headers }>;

async function harness(env: Record<string, string>, transport: (app: AdminApp) => Promise<Send>): Promise<ApiHarness> {
  const db = await createTestDatabase();
  const prefix = redisPrefix();
  const config = configSchema.parse({
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: prefix,
    ADMIN_TOKEN: TOKEN,
    ADMIN_PORT: '0',
    HEALTH_PORT: '0',
    // Test receivers listen on 127.0.0.1; the SSRF rule has tests of its own.
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...env,
  });
  const redis = queueRedis(config.REDIS_URL);
  redis.on('error', () => {});
  const lines: string[] = [];
  const logger = createLogger('admin-api', 'debug', { write: (line: string) => void lines.push(line) });
  const registry = createRegistry('admin-api');
  // Small Argon2id parameters keep the tests fast; the format ($argon2id$) is the same.
  const app = createApp({ config, logger, registry, pool: db.pool, redis, hasher: argon2idHasher({ memoryKib: 1024, timeCost: 1, parallelism: 1 }) });
  const send = await transport(app);
  const call = async (method: string, path: string, body: unknown, headers: Record<string, string>): Promise<ApiResponse> => {
    const h: Record<string, string> = { authorization: `Bearer ${TOKEN}`, ...headers };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await send({ method, path, headers: h, payload });
    let json: unknown = undefined;
    try {
      json = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      json = res.text;
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
    logText: () => lines.join(''),
    call: (method, path, body, headers = {}) => call(method, path, body, headers),
    as: (token) => (method, path, body) => call(method, path, body, { authorization: `Bearer ${token}` }),
    async close() {
      await app.stop();
      await redis.quit();
      await db.drop();
    },
  };
}

/** Fastify's inject(): the whole request path (hooks, validation, serialisation) without a socket. */
export async function buildTestApi(env: Record<string, string> = {}): Promise<ApiHarness> {
  return harness(env, async (app) => async ({ method, path, headers, payload }) => {
    const res = await app.server().inject({ method: method as 'GET', url: path, headers, ...(payload === undefined ? {} : { payload }) });
    const h = new Headers();
    for (const [k, v] of Object.entries(res.headers)) for (const x of Array.isArray(v) ? v : v === undefined ? [] : [v]) h.append(k, String(x));
    return { status: res.statusCode, text: res.body, headers: h };
  });
}

/** Listening on 127.0.0.1 and a free port, called over HTTP with fetch. */
export async function startTestApi(env: Record<string, string> = {}): Promise<TestApi> {
  let base = '';
  const api = await harness(env, async (app) => {
    await app.start();
    base = `http://127.0.0.1:${app.port()}`;
    return async ({ method, path, headers, payload }) => {
      const res = await fetch(base + path, { method, headers, body: payload });
      return { status: res.status, text: await res.text(), headers: res.headers };
    };
  });
  return { ...api, base };
}
