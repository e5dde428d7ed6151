// dns-cache: a caching forwarder for the cluster. createApp wires the pieces from what
// runService() gives it (`needs: { redis: 'cache' }`); `handleQuery` is the whole life of one
// query, from bytes to bytes.
import { RCODE } from '@hopmail/dns-wire';
import type { Redis } from 'ioredis';
import { settleWithin, type Logger } from '@hopmail/service-kit';
import { startDnsListeners, type DnsListeners, type Transport } from './adapters/dns-server.ts';
import { Lru } from './adapters/lru.ts';
import { createRedisCache } from './adapters/redis-cache.ts';
import { createUpstreamClient, type UpstreamClient } from './adapters/upstream.ts';
import { loadUpstreams } from './adapters/upstreams-source.ts';
import type { Config } from './config.ts';
import { EVENTS } from './events.ts';
import { createMetrics, type AnswerSource, type Metrics, type Registry } from './metrics.ts';
import { formatUpstream, parseUpstreams, type Upstream } from './policy/upstreams.ts';
import type { CacheEntry } from './protocol/entry.ts';
import { classifyQuery } from './protocol/query.ts';
import { EDE, answerReply, encodeReply, errorReply, udpLimit } from './protocol/reply.ts';
import { createResolver, type Resolver } from './resolver.ts';

export interface AppDeps {
  config: Config;
  logger: Logger;
  registry: Registry;
  /** The shared cache's connection: fail-fast, never waited for, not a readiness condition. */
  redis: Redis;
  /** overrides DNS_UPSTREAMS / resolv.conf (tests) */
  upstreams?: Upstream[];
}

const RCODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k.toLowerCase()]));

export function createApp(deps: AppDeps) {
  const { config, logger, registry, redis } = deps;
  const metrics: Metrics = createMetrics(registry);
  let listeners: DnsListeners | undefined;
  let upstream: UpstreamClient | undefined;
  let resolver: Resolver | undefined;

  const answered = (bytes: Buffer, rcode: number, source: AnswerSource): Buffer => {
    metrics.responses.inc({ rcode: RCODE_NAMES[rcode] ?? String(rcode) });
    metrics.answers.inc({ source });
    return bytes;
  };

  async function handleQuery(buf: Buffer, transport: Transport, remote: string): Promise<Buffer | undefined> {
    metrics.queries.inc({ transport });
    const c = classifyQuery(buf);
    if (c.kind === 'drop') {
      metrics.malformed.inc({ reason: c.reason });
      logger.debug({ event: EVENTS.queryMalformed, remoteIp: remote, reason: c.reason, transport }, 'query dropped');
      return undefined;
    }
    if (c.kind === 'reply') {
      // label by the answer (a fixed set), the detail goes to the debug log
      metrics.malformed.inc({ reason: c.reason === 'badvers' ? 'badvers' : (RCODE_NAMES[c.reply.header.rcode] ?? 'other') });
      logger.debug({ event: EVENTS.queryMalformed, remoteIp: remote, reason: c.reason, transport }, 'query refused before lookup');
      return answered(encodeReply(c.reply, transport === 'udp' ? 512 : undefined).bytes, c.reply.header.rcode, 'local');
    }
    const { msg } = c;
    const limit = transport === 'udp' ? udpLimit(msg, config.DNS_UDP_PAYLOAD) : undefined;
    try {
      const res = await resolver!.resolve(c.question, c.key);
      if (res.source === 'servfail') {
        const ede = res.reason === 'timeout' || res.reason === 'budget' ? EDE.noReachableAuthority : EDE.networkError;
        return answered(encodeReply(errorReply(msg.header, msg.questions, RCODE.SERVFAIL, msg.edns, config.DNS_UDP_PAYLOAD, ede), limit).bytes, RCODE.SERVFAIL, 'servfail');
      }
      const out = encodeReply(answerReply(msg, res.rcode, res.sections, config.DNS_UDP_PAYLOAD, res.source === 'stale' ? EDE.staleAnswer : undefined, res.ad), limit);
      if (out.truncated) metrics.truncated.inc();
      return answered(out.bytes, res.rcode, res.source);
    } catch (err) {
      // e.g. an upstream answer we cannot re-encode (over 65535 bytes): fail this query only
      logger.error({ event: EVENTS.handlerFailed, err: (err as Error).message, qname: c.question.name, remoteIp: remote }, 'query failed');
      metrics.servfail.inc({ reason: 'internal' });
      return answered(encodeReply(errorReply(msg.header, msg.questions, RCODE.SERVFAIL, msg.edns, config.DNS_UDP_PAYLOAD), limit).bytes, RCODE.SERVFAIL, 'servfail');
    }
  }

  return {
    metrics,
    handleQuery,
    // Redis is deliberately not a readiness condition (see main.ts): listening is.
    checks: { dns: async () => (listeners && listeners.port > 0 ? true : Promise.reject(new Error('not listening'))) },
    /** the bound UDP/TCP port (after start) */
    get port(): number {
      return listeners?.port ?? 0;
    },
    get resolver(): Resolver | undefined {
      return resolver;
    },
    async start(): Promise<void> {
      // Commands fail at once while Redis is not connected (no offline queue), so an early
      // answer would be cached in this process only. Wait a little for Redis, never forever.
      if (redis.status !== 'ready' && config.DNS_REDIS_START_WAIT_MS > 0) {
        const ready = await settleWithin(new Promise<void>((r) => redis.once('ready', () => r())), config.DNS_REDIS_START_WAIT_MS);
        if (!ready) logger.warn({ event: EVENTS.redisFailed, op: 'connect', waitedMs: config.DNS_REDIS_START_WAIT_MS }, 'redis not ready; starting with the process cache only');
      }
      const upstreams = deps.upstreams ?? loadUpstreams({ configured: config.DNS_UPSTREAMS, self: { host: config.DNS_HOST, port: config.DNS_PORT }, logger });
      upstream = createUpstreamClient({ upstreams, timeoutMs: config.DNS_UPSTREAM_TIMEOUT_MS, attempts: config.DNS_UPSTREAM_ATTEMPTS, udpPayload: config.DNS_UDP_PAYLOAD, validating: new Set(parseUpstreams(config.DNS_VALIDATING_UPSTREAMS).map(formatUpstream)), logger, metrics });
      resolver = createResolver({
        lru: new Lru<CacheEntry>(config.DNS_LRU_SIZE),
        shared: createRedisCache({ redis, prefix: config.REDIS_PREFIX, timeoutMs: config.DNS_REDIS_TIMEOUT_MS, logger, metrics }),
        upstream,
        logger,
        metrics,
        budgetMs: config.DNS_ANSWER_BUDGET_MS,
        maxInflight: config.DNS_UPSTREAM_MAX_INFLIGHT,
        collapseAcrossReplicas: config.DNS_COLLAPSE_ACROSS_REPLICAS,
        // a peer gives up after all its attempts; waiting longer than the budget helps nobody
        peerWaitMs: Math.min(config.DNS_UPSTREAM_TIMEOUT_MS * config.DNS_UPSTREAM_ATTEMPTS, config.DNS_ANSWER_BUDGET_MS),
        minTtl: config.DNS_MIN_TTL,
        maxTtl: config.DNS_MAX_TTL,
        negativeMaxTtl: config.DNS_NEGATIVE_MAX_TTL,
        serveStaleMaxS: config.DNS_SERVE_STALE_MAX_S,
        staleTtl: config.DNS_STALE_TTL,
      });
      listeners = await startDnsListeners({ host: config.DNS_HOST, port: config.DNS_PORT, handle: handleQuery, tcpIdleMs: config.DNS_TCP_IDLE_MS, tcpMaxConnections: config.DNS_TCP_MAX_CONNECTIONS, logger });
      logger.info({ event: EVENTS.listening, host: config.DNS_HOST, port: listeners.port, upstreams: upstreams.length }, `dns-cache listening on ${config.DNS_HOST}:${listeners.port} udp+tcp`);
    },
    /** Stop taking queries; those in flight are answered (each within the answer budget). */
    async stop(): Promise<void> {
      await listeners?.close();
      upstream?.close();
      await resolver?.drain();
      logger.info({ event: EVENTS.stopped }, 'dns listeners closed');
    },
  };
}

export type DnsCacheApp = ReturnType<typeof createApp>;
