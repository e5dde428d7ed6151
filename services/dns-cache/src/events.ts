// Log event codes of dns-cache (CONVENTIONS §7); README DIAGNOSTICS lists every one. The
// skeleton's own (`start.*`, `shutdown.*`, `config.invalid`) are service-kit's.
import { defineEvents } from '@hopmail/service-kit';

export const EVENTS = defineEvents('dns-cache', {
  listening: 'dns-cache.listening',
  stopped: 'dns-cache.stopped',
  upstreamsFromResolvConf: 'dns-cache.upstreams.resolv-conf',
  noUpstreams: 'dns-cache.upstreams.none',
  queryMalformed: 'dns-cache.query.malformed',
  upstreamFailed: 'dns-cache.upstream.failed',
  allUpstreamsFailed: 'dns-cache.upstream.all-failed',
  staleServed: 'dns-cache.stale.served',
  servfail: 'dns-cache.servfail',
  redisFailed: 'dns-cache.redis.failed',
  socketError: 'dns-cache.socket.error',
  tcpLimit: 'dns-cache.tcp.limit',
  handlerFailed: 'dns-cache.handler.failed',
});
