import { loadConfigOrExit } from '@hopmail/config';
import { createPool } from '@hopmail/db';
import { assertQueueRedis, createRedis } from '@hopmail/queue';
import { createLogger, createRegistry, postgresAndRedis, runService } from '@hopmail/service-kit';
import { certificateStoreFromConfig, type CertificateStore } from '@hopmail/tls';
import { configSchema } from './config.ts';
import { createApp } from './app.ts';

const config = loadConfigOrExit('pop3', configSchema);
const logger = createLogger('pop3', config.LOG_LEVEL);
// Before any connection exists: production without a readable certificate is a
// configuration error (exit 78, EX_CONFIG), not a crash to be restarted.
let certificates: CertificateStore | null;
try {
  certificates = certificateStoreFromConfig(config, logger);
} catch (err) {
  logger.fatal({ event: 'config.invalid', problems: [(err as Error).message] }, 'invalid TLS configuration');
  logger.flush();
  process.exit(78);
}
const registry = createRegistry('pop3');
const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, 'hopmail-pop3');
// Fail fast instead of queueing while Redis is away: logins go on without the shared counters.
const redis = createRedis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
redis.on('error', () => {}); // reported by /readyz
// Login-failure counters must not be evicted (brute-force limits): same rule as the queues.
await assertQueueRedis(redis, logger);
const app = createApp({ config, logger, registry, pool, redis, certificates });
await runService({
  name: 'pop3',
  logger,
  config,
  registry,
  app,
  ...postgresAndRedis(pool, redis),
});
