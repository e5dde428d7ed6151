// Which resolvers to forward to. Pure: the caller reads /etc/resolv.conf and passes its text.

export interface Upstream {
  host: string;
  port: number;
}

export function formatUpstream(u: Upstream): string {
  return u.host.includes(':') ? `[${u.host}]:${u.port}` : `${u.host}:${u.port}`;
}

/** "10.0.0.2:53, [2001:db8::53]:53, 127.0.0.1" → upstreams (port 53 when omitted). */
export function parseUpstreams(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    let m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(item);
    if (!m) m = /^([^:\s]+)(?::(\d{1,5}))?$/.exec(item);
    if (!m && /^[0-9a-fA-F:]+$/.test(item) && item.includes(':')) m = [item, item, undefined] as unknown as RegExpExecArray;
    if (!m) throw new Error(`DNS_UPSTREAMS: cannot parse ${JSON.stringify(item)} (want host:port or [v6]:port)`);
    const port = m[2] === undefined ? 53 : Number(m[2]);
    if (port < 1 || port > 65535) throw new Error(`DNS_UPSTREAMS: bad port in ${JSON.stringify(item)}`);
    out.push({ host: m[1]!, port });
  }
  return out;
}

/** `nameserver` lines of resolv.conf(5), minus ourselves (forwarding to ourselves would loop). */
export function upstreamsFromResolvConf(text: string, self: Upstream): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1]!.replace(/%.*$/, ''); // drop an IPv6 zone id
    const u = { host, port: 53 };
    if (u.port === self.port && (host === self.host || self.host === '0.0.0.0' || self.host === '::')) continue;
    out.push(u);
  }
  return out;
}
