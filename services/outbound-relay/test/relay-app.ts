// Set-up shared by the relay's integration tests: the relay's environment (for an app in this
// process or a service process), its configuration, and an app whose log lines are kept.
import { Writable } from 'node:stream';
import { loadConfig } from '@hopmail/config';
import { createLogger, createRegistry } from '@hopmail/service-kit';
import { baseUrls, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { createApp, type AppDeps, type RelayApp } from '../src/app.ts';
import { configSchema, type Config } from '../src/config.ts';

export interface RelayEnvOptions {
  db: TestDatabase;
  prefix: string;
  /** The fake MX: RELAY_PORT. */
  mx?: { port: number };
  /** The fake DNS: DNS_SERVERS. */
  dns?: { host: string; port: number };
  /** Anything else, or overrides. */
  env?: Record<string, string>;
}

export function relayEnv({ db, prefix, mx, dns, env }: RelayEnvOptions): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: prefix,
    RELAY_HOSTNAME: 'relay.hopmail.test',
    ...(mx ? { RELAY_PORT: String(mx.port) } : {}),
    ...(dns ? { DNS_SERVERS: `${dns.host}:${dns.port}` } : {}),
    ...env,
  };
}

export function relayConfig(options: RelayEnvOptions): Config {
  return loadConfig('outbound-relay', configSchema, { argv: [], env: relayEnv(options) });
}

export interface TestRelay {
  app: RelayApp;
  config: Config;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  /** Every log line so far, as written. */
  text(): string;
  stop(): Promise<void>;
}

/** A relay app on the test's database and Redis connection; started unless `start: false`. */
export async function startRelay(options: RelayEnvOptions & { redis: Redis; logLevel?: string; start?: boolean; now?: AppDeps['now'] }): Promise<TestRelay> {
  const config = relayConfig(options);
  const logs: Record<string, unknown>[] = [];
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      cb();
    },
  });
  const logger = createLogger('outbound-relay', options.logLevel ?? 'info', sink as never);
  const app = createApp({ config, logger, registry: createRegistry('outbound-relay'), pool: options.db.pool, redis: options.redis, ...(options.now ? { now: options.now } : {}) });
  if (options.start !== false) await app.start();
  return { app, config, logs, text: () => chunks.join(''), stop: () => app.stop() };
}
