import { prom } from '@hopmail/service-kit';
// prom-client is a dependency of service-kit, not of this package: take its types from there.
export type Registry = InstanceType<typeof prom.Registry>;

export type AnswerSource = 'lru' | 'redis' | 'upstream' | 'stale' | 'servfail' | 'local';

export function createMetrics(registry: Registry) {
  const registers = [registry];
  const answers = new prom.Counter({ name: 'hopmail_dns_answers_total', help: 'answers to clients by where they came from (lru, redis = cache hits; upstream = miss; stale; servfail; local = FORMERR/NOTIMP/REFUSED)', labelNames: ['source'] as const, registers });
  const lookups = { hits: 0, misses: 0 };
  return {
    queries: new prom.Counter({ name: 'hopmail_dns_queries_total', help: 'queries received from clients', labelNames: ['transport'] as const, registers }),
    responses: new prom.Counter({ name: 'hopmail_dns_responses_total', help: 'answers sent by rcode', labelNames: ['rcode'] as const, registers }),
    answers,
    hitRatio: new prom.Gauge({
      name: 'hopmail_dns_cache_hit_ratio',
      help: 'share of cache lookups answered from the cache (LRU or Redis) since start',
      registers,
      collect() {
        const total = lookups.hits + lookups.misses;
        this.set(total ? lookups.hits / total : 0);
      },
    }),
    lookups,
    upstreamLatency: new prom.Histogram({
      name: 'hopmail_dns_upstream_duration_seconds',
      help: 'one upstream exchange, by transport and outcome',
      labelNames: ['transport', 'outcome'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    stale: new prom.Counter({ name: 'hopmail_dns_stale_answers_total', help: 'expired answers served because every upstream failed (RFC 8767)', registers }),
    servfail: new prom.Counter({ name: 'hopmail_dns_servfail_total', help: 'SERVFAIL answers by reason', labelNames: ['reason'] as const, registers }),
    collapsed: new prom.Counter({ name: 'hopmail_dns_collapsed_total', help: 'queries that joined an identical upstream query already in flight', registers }),
    truncated: new prom.Counter({ name: 'hopmail_dns_truncated_total', help: 'UDP answers sent with TC because they exceeded the client size', registers }),
    malformed: new prom.Counter({ name: 'hopmail_dns_malformed_total', help: 'queries dropped or refused before lookup, by reason', labelNames: ['reason'] as const, registers }),
    redisErrors: new prom.Counter({ name: 'hopmail_dns_redis_errors_total', help: 'Redis cache reads/writes that failed or timed out (treated as misses)', labelNames: ['op'] as const, registers }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
