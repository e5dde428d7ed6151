// Event codes of dns-cache (CONVENTIONS §6, §7). Every warn/error log line carries one.
export const EVENT = {
  listening: 'dns.listening',
  upstreamsFromResolvConf: 'dns.upstreams.resolv-conf',
  noUpstreams: 'dns.upstreams.none',
  queryMalformed: 'dns.query.malformed',
  upstreamFailed: 'dns.upstream.failed',
  upstreamBadReply: 'dns.upstream.bad-reply',
  allUpstreamsFailed: 'dns.upstream.all-failed',
  staleServed: 'dns.stale.served',
  servfail: 'dns.servfail',
  redisFailed: 'dns.redis.failed',
  socketError: 'dns.socket.error',
  tcpLimit: 'dns.tcp.limit',
  handlerFailed: 'dns.handler.failed',
  stopped: 'dns.stopped',
} as const;

export type UpstreamFailure = 'timeout' | 'servfail' | 'refused' | 'bad-reply' | 'network' | 'budget';

/** Why an upstream exchange gave no usable answer; temporary by nature. */
export class UpstreamError extends Error {
  readonly reason: UpstreamFailure;
  readonly upstream: string;
  constructor(reason: UpstreamFailure, upstream: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'UpstreamError';
    this.reason = reason;
    this.upstream = upstream;
  }
}
