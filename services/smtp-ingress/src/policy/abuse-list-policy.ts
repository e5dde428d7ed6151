// The operator's allowlist and blocklist (migration 0020, managed through admin-api): client
// networks (an address is a network of one; IPv4 and IPv6) and sender domains (a domain also
// covers its subdomains). Pure: the lists as matchers and what a listing means at RCPT.
//  - A client on the allowlist skips DNSBL, greylisting and the per-client limits; the
//    allowlist wins over a blocklist entry that also covers the client (an exception cut out
//    of a blocked network).
//  - A client or sender domain on the blocklist gets 554 5.7.1 at RCPT naming the reason.
//  - An allowlisted sender domain counts only with SPF pass (anyone can write any MAIL FROM):
//    then greylisting is skipped (greylist-policy.ts), nothing else.

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { reject, type Refusal } from './verdict.ts';

export interface AbuseListEntry {
  id: number;
  list: 'allow' | 'block';
  /** CIDR as PostgreSQL prints it (a.b.c.d/n, x:y::/n), or null for a domain entry. */
  network: string | null;
  domain: string | null;
  reason: string;
}

export interface ListHit {
  list: 'allow' | 'block';
  /** The entry that matched: its network or domain. */
  value: string;
  reason: string;
}

export interface AbuseLists {
  readonly size: number;
  /** The client's listing (allow before block), or null. */
  client(ip: string): ListHit | null;
  /** The listing of the sender's domain or a parent of it, or null ('' sender: null). */
  sender(mailFrom: string): ListHit | null;
}

const family = (a: string) => (isIPv6(a) ? 'ipv6' : 'ipv4');
/** IPv4-mapped IPv6 (a dual-stack listener) as IPv4. */
const plainIp = (ip: string) => /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] ?? ip;

function networkOf(cidr: string): BlockList | null {
  const [addr = '', bits] = cidr.split('/');
  if (!isIPv4(addr) && !isIPv6(addr)) return null;
  const b = new BlockList();
  const type = family(addr);
  b.addSubnet(addr, bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits), type);
  return b;
}

export const EMPTY_LISTS: AbuseLists = buildAbuseLists([]);

export function buildAbuseLists(entries: readonly AbuseListEntry[]): AbuseLists {
  const networks = { allow: [] as { entry: AbuseListEntry; net: BlockList }[], block: [] as { entry: AbuseListEntry; net: BlockList }[] };
  const domains = new Map<string, AbuseListEntry>();
  for (const e of entries) {
    if (e.domain !== null) domains.set(e.domain.toLowerCase(), e);
    else if (e.network !== null) {
      const net = networkOf(e.network);
      if (net) networks[e.list].push({ entry: e, net });
    }
  }
  const hit = (e: AbuseListEntry): ListHit => ({ list: e.list, value: e.domain ?? e.network ?? '', reason: e.reason });
  return {
    size: entries.length,
    client(ip) {
      const a = plainIp(ip);
      if (!isIPv4(a) && !isIPv6(a)) return null;
      for (const list of ['allow', 'block'] as const) {
        const found = networks[list].find((n) => n.net.check(a, family(a)));
        if (found) return hit(found.entry);
      }
      return null;
    },
    sender(mailFrom) {
      const at = mailFrom.lastIndexOf('@');
      if (at < 0 || domains.size === 0) return null;
      const labels = mailFrom.slice(at + 1).toLowerCase().replace(/\.$/, '').split('.');
      for (let i = 0; i < labels.length; i++) {
        const e = domains.get(labels.slice(i).join('.'));
        if (e) return hit(e);
      }
      return null;
    },
  };
}

// The reason is the operator's text and the names may be UTF-8: only printable ASCII goes into a reply line.
const ascii = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');
const replyReason = (reason: string) => {
  const r = ascii(reason).trim().slice(0, 200);
  return r ? `: ${r}` : '';
};

/** RCPT of an unauthenticated session: the blocklist's refusal, or null. */
export function blocklistVerdict(ip: string, client: ListHit | null, sender: ListHit | null, mailFrom: string): Refusal | null {
  if (client?.list === 'block') return reject(554, '5.7.1', `Client host [${plainIp(ip)}] blocked by the blocklist (${client.value})${replyReason(client.reason)}`, 'blocklist-client');
  if (sender?.list === 'block') {
    const domain = ascii(mailFrom.slice(mailFrom.lastIndexOf('@') + 1));
    return reject(554, '5.7.1', `Sender domain ${domain} blocked by the blocklist (${ascii(sender.value)})${replyReason(sender.reason)}`, 'blocklist-sender');
  }
  return null;
}
