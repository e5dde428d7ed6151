import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Pool } from '@hopmail/db';
import type { App, Logger, prom } from '@hopmail/service-kit';
import { argon2idHasher, type PasswordHasher } from './adapters/password.ts';
import { Store } from './adapters/store.ts';
import type { Config } from './config.ts';
import { httpMetrics } from './http/metrics.ts';
import { buildServer } from './http/server.ts';

export interface Deps {
  config: Config;
  logger: Logger;
  registry: prom.Registry;
  pool: Pool;
  /** Tests pass a cheaper hasher; production uses the configured Argon2id parameters. */
  hasher?: PasswordHasher;
}

export interface AdminApp extends App {
  /** Bound port, known after start(). */
  port(): number;
  server(): FastifyInstance;
}

export function createApp(deps: Deps): AdminApp {
  const { config } = deps;
  let server: FastifyInstance | undefined;
  return {
    async start() {
      server = await buildServer({
        logger: deps.logger,
        token: config.ADMIN_TOKEN,
        bodyLimit: config.ADMIN_BODY_LIMIT,
        defaultLimit: config.ADMIN_LIST_DEFAULT_LIMIT,
        metrics: httpMetrics(deps.registry),
        store: new Store(deps.pool),
        hasher: deps.hasher ?? argon2idHasher({ memoryKib: config.ARGON2_MEMORY_KIB, timeCost: config.ARGON2_TIME_COST, parallelism: config.ARGON2_PARALLELISM }),
      });
      await server.listen({ port: config.ADMIN_PORT, host: config.ADMIN_HOST });
      deps.logger.info({ event: 'http.listening', host: config.ADMIN_HOST, port: (server.server.address() as AddressInfo).port }, 'admin API listening');
    },
    async stop() {
      if (!server) return;
      // Stops accepting and lets in-flight requests finish; the pool is closed by runService
      // after. fastify.close() only drops connections idle at that instant: a keep-alive
      // connection whose request finishes later would hold close() open for the whole
      // keep-alive timeout, so sweep idle connections until it is done.
      const http = server.server;
      const sweep = setInterval(() => http.closeIdleConnections(), 50);
      try {
        await server.close();
      } finally {
        clearInterval(sweep);
      }
    },
    port() {
      if (!server) throw new Error('admin-api not started');
      return (server.server.address() as AddressInfo).port;
    },
    server() {
      if (!server) throw new Error('admin-api not started');
      return server;
    },
  };
}
