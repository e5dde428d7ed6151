// The housekeeper in this process for integration tests, on a fresh database (or one a
// test already has) and its own Redis key prefix; log lines are kept for assertions.
import { baseUrls, createTestDatabase, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import { createLogger, createRegistry, queueRedis } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { createApp, type HousekeeperApp } from '../src/app.ts';
import { configSchema, type Config } from '../src/config.ts';

export interface TestHousekeeper {
  db: TestDatabase;
  redis: Redis;
  prefix: string;
  config: Config;
  app: HousekeeperApp;
  /** Every log line written so far, raw. */
  logText(): string;
  /** Stops the app; drops the database and closes Redis only when this helper made them. */
  close(): Promise<void>;
}

export interface TestHousekeeperOptions {
  env?: Record<string, string>;
  /** Share a test's database (and Redis prefix) instead of making new ones. */
  db?: TestDatabase;
  prefix?: string;
  /** Default true; false builds the app without starting its loops. */
  start?: boolean;
}

export async function startTestHousekeeper(options: TestHousekeeperOptions = {}): Promise<TestHousekeeper> {
  const db = options.db ?? (await createTestDatabase());
  const prefix = options.prefix ?? redisPrefix();
  const config = configSchema.parse({
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: prefix,
    HEALTH_PORT: '0',
    EVENTS_PUBLISH_INTERVAL_MS: '50',
    WEBHOOK_POLL_INTERVAL_MS: '50',
    // Test receivers listen on 127.0.0.1; the SSRF filter has tests of its own.
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...options.env,
  });
  const redis = queueRedis(config.REDIS_URL);
  redis.on('error', () => {});
  const lines: string[] = [];
  const logger = createLogger('housekeeper', 'debug', { write: (line: string) => void lines.push(line) });
  const app = createApp({ config, logger, registry: createRegistry('housekeeper'), pool: db.pool, redis });
  if (options.start !== false) await app.start();
  return {
    db,
    redis,
    prefix,
    config,
    app,
    logText: () => lines.join(''),
    async close() {
      await app.stop();
      await redis.quit();
      if (!options.db) await db.drop();
    },
  };
}
