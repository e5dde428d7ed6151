import { ConfigError, loadConfig } from '@hopmail/config';
import { createPool } from '@hopmail/db';
import { assertQueueRedis, createRedis } from '@hopmail/queue';
import { createLogger, createRegistry, postgresAndRedis, runService } from '@hopmail/service-kit';
import { createApp } from './app.ts';
import { configSchema, type Config } from './config.ts';

let config: Config;
try {
  config = loadConfig('admin-api', configSchema);
} catch (err) {
  // ADMIN_TOKEN has no default: say so plainly instead of printing a stack trace.
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  const log = createLogger('admin-api', 'info');
  log.fatal({ event: 'config.invalid', problems: err.problems }, 'invalid configuration');
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  process.exit(78); // EX_CONFIG
}
const logger = createLogger('admin-api', config.LOG_LEVEL);
const registry = createRegistry('admin-api');
const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, 'hopmail-admin-api');
const redis = createRedis(config.REDIS_URL);
// ioredis reconnects by itself; readiness reports the outage. One line per outage, not per retry.
let redisDown = false;
redis.on('error', (err) => {
  if (!redisDown) logger.warn({ event: 'redis.unavailable', err }, 'Redis connection failed; reconnecting');
  redisDown = true;
});
redis.on('ready', () => {
  redisDown = false;
});
// Queue actions, the event stream and auth-failure counters live here: refuse an evicting Redis.
await assertQueueRedis(redis, logger);
const app = createApp({ config, logger, registry, pool, redis });
await runService({
  name: 'admin-api',
  logger,
  config,
  registry,
  app,
  ...postgresAndRedis(pool, redis),
});
