// Where the upstream list comes from: DNS_UPSTREAMS, else /etc/resolv.conf read once at start.
import { readFileSync } from 'node:fs';
import type { Logger } from '@hopmail/service-kit';
import { EVENT } from '../errors.ts';
import { formatUpstream, parseUpstreams, upstreamsFromResolvConf, type Upstream } from '../policy/upstreams.ts';

export function loadUpstreams(o: { configured: string; self: Upstream; logger: Logger; resolvConfPath?: string }): Upstream[] {
  if (o.configured.trim()) return parseUpstreams(o.configured);
  let text = '';
  try {
    text = readFileSync(o.resolvConfPath ?? '/etc/resolv.conf', 'utf8');
  } catch (err) {
    o.logger.warn({ event: EVENT.noUpstreams, err: (err as Error).message }, 'DNS_UPSTREAMS unset and /etc/resolv.conf unreadable');
  }
  const list = upstreamsFromResolvConf(text, o.self);
  if (list.length) o.logger.info({ event: EVENT.upstreamsFromResolvConf, upstreams: list.map(formatUpstream) }, 'DNS_UPSTREAMS unset: using the nameservers of /etc/resolv.conf');
  else o.logger.warn({ event: EVENT.noUpstreams }, 'no upstream resolvers: only cached answers can be served, everything else is SERVFAIL');
  return list;
}
