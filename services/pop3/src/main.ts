import { loadConfig } from '@hopmail/config';
import { createPool, ping } from '@hopmail/db';
import { createRedis } from '@hopmail/queue';
import { createLogger, createRegistry, runService } from '@hopmail/service-kit';
import { configSchema } from './config.ts';
import { createApp } from './app.ts';

const config = loadConfig('pop3', configSchema);
const logger = createLogger('pop3', config.LOG_LEVEL);
const registry = createRegistry('pop3');
const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, 'hopmail-pop3');
// Fail fast instead of queueing while Redis is away: logins go on without the shared counters.
const redis = createRedis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
redis.on('error', () => {}); // reported by /readyz
const app = createApp({ config, logger, registry, pool, redis });
await runService({
  name: 'pop3',
  logger,
  config,
  registry,
  checks: { postgres: () => ping(pool), redis: () => redis.ping() },
  app,
  resources: [
    { name: 'redis', close: () => redis.quit() },
    { name: 'postgres', close: () => pool.end() },
  ],
});
