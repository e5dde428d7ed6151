// Where the upstream list comes from: DNS_UPSTREAMS, else /etc/resolv.conf read once at start.
import { readFileSync } from 'node:fs';
import type { Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';
import { formatUpstream, parseUpstreams, upstreamsFromResolvConf, type Upstream } from '../policy/upstreams.ts';

export function loadUpstreams(options: { configured: string; self: Upstream; logger: Logger; resolvConfPath?: string }): Upstream[] {
  if (options.configured.trim()) return parseUpstreams(options.configured);
  let text = '';
  try {
    text = readFileSync(options.resolvConfPath ?? '/etc/resolv.conf', 'utf8');
  } catch (err) {
    options.logger.warn({ event: EVENTS.noUpstreams, err: (err as Error).message }, 'DNS_UPSTREAMS unset and /etc/resolv.conf unreadable');
  }
  const list = upstreamsFromResolvConf(text, options.self);
  if (list.length) options.logger.info({ event: EVENTS.upstreamsFromResolvConf, upstreams: list.map(formatUpstream) }, 'DNS_UPSTREAMS unset: using the nameservers of /etc/resolv.conf');
  else options.logger.warn({ event: EVENTS.noUpstreams }, 'no upstream resolvers: only cached answers can be served, everything else is SERVFAIL');
  return list;
}
