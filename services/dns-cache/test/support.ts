// dns-cache test scaffolding: start an in-process cache against fake upstreams, with the
// connection runService() would give it (`redis: 'cache'`), and send raw queries over UDP
// and TCP.
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { loadConfig } from '@hopmail/config';
import { TcpFrameReader, decodeMessage, encodeQuery, frameTcp, type DnsMessage } from '@hopmail/dns-wire';
import { createLogger, createRegistry, failFastRedis } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { createApp, type DnsCacheApp } from '../src/app.ts';
import { configSchema, type Config } from '../src/config.ts';

export interface TestCache {
  app: DnsCacheApp;
  config: Config;
  port: number;
  redis: Redis;
  /** node:dns pointed at the cache, as the other services use it */
  resolver: Resolver;
  stop(): Promise<void>;
}

export interface TestCacheOptions {
  upstreams: { host: string; port: number }[];
  redisUrl: string;
  prefix: string;
  env?: Record<string, string>;
  /** Log lines go here (parsed); silent without. */
  logs?: Record<string, unknown>[];
  /** false: start without waiting for Redis first, as runService() does (the app's own start wait applies). */
  awaitRedis?: boolean;
}

export async function startTestCache(options: TestCacheOptions): Promise<TestCache> {
  const config = loadConfig('dns-cache', configSchema, {
    env: {
      DNS_HOST: '127.0.0.1',
      DNS_PORT: '0',
      REDIS_URL: options.redisUrl,
      REDIS_PREFIX: options.prefix,
      DNS_UPSTREAMS: options.upstreams.map((u) => (u.host.includes(':') ? `[${u.host}]:${u.port}` : `${u.host}:${u.port}`)).join(','),
      DNS_UPSTREAM_TIMEOUT_MS: '300',
      DNS_ANSWER_BUDGET_MS: '1500',
      // a loaded CI machine can stall Redis past the 150 ms default; tests check semantics, not that
      DNS_REDIS_TIMEOUT_MS: '1000',
      ...options.env,
    },
    argv: [],
  });
  const logs = options.logs;
  const logger = logs ? createLogger('dns-cache', 'debug', { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }) : createLogger('dns-cache', 'silent');
  const redis = failFastRedis(options.redisUrl);
  if (options.awaitRedis !== false && redis.status !== 'ready') await new Promise((r) => redis.once('ready', r));
  const app = createApp({ config, logger, registry: createRegistry('dns-cache'), redis });
  await app.start();
  const resolver = new Resolver({ timeout: 4000, tries: 1 });
  resolver.setServers([`127.0.0.1:${app.port}`]);
  return {
    app,
    config,
    port: app.port,
    redis,
    resolver,
    async stop() {
      resolver.cancel();
      await app.stop();
      redis.disconnect();
    },
  };
}

export async function udpExchange(port: number, query: Buffer, timeoutMs = 3000, host = '127.0.0.1'): Promise<Buffer | undefined> {
  const sock = createSocket('udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), timeoutMs);
      sock.once('message', (m) => {
        clearTimeout(t);
        resolve(m);
      });
      sock.send(query, port, host);
    });
  } finally {
    sock.close();
  }
}

export async function udpQuery(port: number, q: { id?: number; name: string; type: number; udpSize?: number }): Promise<DnsMessage> {
  const reply = await udpExchange(port, encodeQuery({ id: q.id ?? 4711, name: q.name, type: q.type, udpSize: q.udpSize }));
  if (!reply) throw new Error(`no UDP answer for ${q.name}`);
  return decodeMessage(reply);
}

/** Sends each message on one TCP connection; resolves with the replies (undefined when the server closed instead). */
export async function tcpExchange(port: number, queries: Buffer[], timeoutMs = 3000): Promise<(Buffer | undefined)[]> {
  const sock = connect(port, '127.0.0.1');
  const frames = new TcpFrameReader();
  const replies: Buffer[] = [];
  try {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      sock.on('error', done);
      sock.on('close', done);
      sock.on('data', (c) => {
        replies.push(...frames.push(c));
        if (replies.length >= queries.length) done();
      });
      sock.write(Buffer.concat(queries.map(frameTcp)));
    });
  } finally {
    sock.destroy();
  }
  return queries.map((_, i) => replies[i]);
}
