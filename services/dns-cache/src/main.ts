import { loadConfigOrExit } from '@hopmail/config';
import { createRedis } from '@hopmail/queue';
import { createLogger, createRegistry, runService } from '@hopmail/service-kit';
import { configSchema } from './config.ts';
import { createApp } from './app.ts';

const config = loadConfigOrExit('dns-cache', configSchema);
const logger = createLogger('dns-cache', config.LOG_LEVEL);
const registry = createRegistry('dns-cache');
// A cache must not wait for Redis: no offline queue, so commands fail at once while it is
// down (the resolver treats that as a miss and answers from the process LRU and upstreams).
const redis = createRedis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
redis.on('error', () => {}); // reported through redis-cache (rate-limited) and /readyz
const app = createApp({ config, logger, registry, redis });
await runService({
  name: 'dns-cache',
  logger,
  config,
  registry,
  // Redis is deliberately not a readiness condition: without it this replica still answers
  // (process cache + upstreams), which beats dropping out of the resolver rotation.
  checks: { dns: async () => (app.port > 0 ? true : Promise.reject(new Error('not listening'))) },
  app,
  resources: [{ name: 'redis', close: () => redis.quit() }],
});
