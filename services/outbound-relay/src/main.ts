import { loadConfigOrExit } from '@hopmail/config';
import { createPool } from '@hopmail/db';
import { assertQueueRedis, createRedis } from '@hopmail/queue';
import { createLogger, createRegistry, postgresAndRedis, runService } from '@hopmail/service-kit';
import { configSchema } from './config.ts';
import { createApp } from './app.ts';

const config = loadConfigOrExit('outbound-relay', configSchema);
const logger = createLogger('outbound-relay', config.LOG_LEVEL);
const registry = createRegistry('outbound-relay');
const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, 'hopmail-outbound-relay');
const redis = createRedis(config.REDIS_URL);
await assertQueueRedis(redis, logger);
const app = createApp({ config, logger, registry, pool, redis });
await runService({
  name: 'outbound-relay', logger, config, registry,
  app,
  ...postgresAndRedis(pool, redis),
});
