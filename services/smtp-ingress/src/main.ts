import { loadConfigOrExit } from '@hopmail/config';
import { createPool } from '@hopmail/db';
import { assertQueueRedis, createRedis } from '@hopmail/queue';
import { createLogger, createRegistry, postgresAndRedis, runService } from '@hopmail/service-kit';
import { certificatesFor, createApp } from './app.ts';
import { configSchema } from './config.ts';

const config = loadConfigOrExit('smtp-ingress', configSchema);
const logger = createLogger('smtp-ingress', config.LOG_LEVEL);
const registry = createRegistry('smtp-ingress');
// Production refuses to start without a certificate (exit 78, like any configuration
// problem): submission takes passwords only over TLS.
let certificates;
try {
  certificates = certificatesFor(config, logger);
} catch (err) {
  logger.fatal({ event: 'config.invalid', problems: [(err as Error).message] }, 'cannot load the TLS certificate');
  await new Promise((r) => setTimeout(r, 50)); // let pino write the line
  process.exit(78);
}
const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, 'hopmail-smtp-ingress');
const redis = createRedis(config.REDIS_URL);
await assertQueueRedis(redis, logger);
const app = createApp({ config, logger, registry, pool, redis, certificates });
await runService({
  name: 'smtp-ingress',
  logger,
  config,
  registry,
  app,
  ...postgresAndRedis(pool, redis),
});
