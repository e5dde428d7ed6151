import { bool, commonConfig, int, port, str, z } from '@hopmail/config';

export const configSchema = z.object({
  ...commonConfig,
  HEALTH_PORT: port(9104, 'port of /healthz, /readyz and /metrics for dns-cache'),
  DNS_HOST: str('127.0.0.1', 'address the resolver listens on (UDP and TCP); 0.0.0.0 in a container, never on a public interface (open resolvers get abused)'),
  DNS_PORT: port(5353, 'UDP and TCP port of the resolver; 53 in a container, 0 picks one (tests)'),
  DNS_UPSTREAMS: str('', 'comma list of upstream resolvers host:port ([v6]:port); empty = the nameservers in /etc/resolv.conf, read once at start'),
  DNS_UPSTREAM_TIMEOUT_MS: int(1000, 20, 30_000, 'how long one upstream attempt may take before the next upstream is tried'),
  DNS_UPSTREAM_ATTEMPTS: int(3, 1, 20, 'upstream attempts per question in total, rotating through DNS_UPSTREAMS'),
  DNS_ANSWER_BUDGET_MS: int(2500, 50, 30_000, 'a client always gets an answer within this long: stale data if there is any, else SERVFAIL (keep below client timeouts, typically 5 s)'),
  DNS_MIN_TTL: int(0, 0, 86_400, 'cached answers live at least this long (seconds), whatever their TTL'),
  DNS_MAX_TTL: int(86_400, 1, 604_800, 'cached answers live at most this long (seconds)'),
  DNS_NEGATIVE_MAX_TTL: int(3600, 0, 86_400, 'cap on NXDOMAIN/NODATA caching (RFC 2308 §5 suggests 1-3 hours)'),
  DNS_SERVE_STALE_MAX_S: int(86_400, 0, 604_800, 'how long past expiry an answer may still be served when every upstream fails (RFC 8767; 0 disables)'),
  DNS_STALE_TTL: int(30, 1, 3600, 'TTL of stale answers, and how long a failing name waits before the upstreams are asked again (RFC 8767 §4)'),
  DNS_UPSTREAM_MAX_INFLIGHT: int(2000, 1, 100_000, 'distinct questions being asked upstream at once; beyond it new misses get stale data or SERVFAIL (a flood of random names must not exhaust sockets)'),
  DNS_COLLAPSE_ACROSS_REPLICAS: bool(true, 'one replica asks upstream for a missed name while the others wait for its answer in Redis (costs one Redis round trip per miss)'),
  DNS_LRU_SIZE: int(10_000, 0, 10_000_000, 'entries kept in process in front of Redis; 0 = Redis only'),
  DNS_VALIDATING_UPSTREAMS: str('', 'comma list of upstreams (host:port as in DNS_UPSTREAMS) that validate DNSSEC: only their AD bit is passed on (DANE relies on it); from any other upstream AD is cleared, and a cached answer carries AD only if its upstream set it'),
  DNS_UDP_PAYLOAD: int(1232, 512, 4096, 'EDNS UDP payload size we advertise and the largest UDP answer we send (1232 avoids IP fragmentation)'),
  DNS_REDIS_TIMEOUT_MS: int(150, 10, 5000, 'a Redis lookup slower than this counts as a miss, so a slow Redis never delays answers'),
  DNS_REDIS_START_WAIT_MS: int(5000, 0, 60_000, 'at start, wait this long for Redis before answering (otherwise the first answers never reach the shared cache); then start anyway, degraded'),
  DNS_TCP_IDLE_MS: int(10_000, 100, 300_000, 'idle TCP client connections are closed after this long (RFC 7766 §6.2.3)'),
  DNS_TCP_MAX_CONNECTIONS: int(1000, 1, 100_000, 'concurrent TCP client connections; more are refused'),
}).superRefine((c, ctx) => {
  if (c.DNS_MIN_TTL > c.DNS_MAX_TTL) ctx.addIssue({ code: 'custom', path: ['DNS_MIN_TTL'], message: `must not exceed DNS_MAX_TTL (${c.DNS_MAX_TTL})` });
  if (c.DNS_UPSTREAM_TIMEOUT_MS > c.DNS_ANSWER_BUDGET_MS) ctx.addIssue({ code: 'custom', path: ['DNS_UPSTREAM_TIMEOUT_MS'], message: `must not exceed DNS_ANSWER_BUDGET_MS (${c.DNS_ANSWER_BUDGET_MS}), or no second upstream is ever tried in time` });
});

export type Config = z.output<typeof configSchema>;
