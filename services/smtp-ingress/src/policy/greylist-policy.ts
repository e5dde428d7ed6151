// Greylisting (RFC 6647): the triplet (client network, sender, recipient) of a first attempt is
// deferred 451 4.7.1; a retry after the delay and within the window passes, and the triplet is
// then remembered; a client network that passed often enough is allowlisted. Exempt:
// authenticated users, allowlisted networks (and DNSWL), SPF pass from an allowlisted sender
// domain. Pure: what is
// exempt, the triplet's key and the verdict. The state is in Redis (adapters/greylist.ts).

import { hash } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { clientKey } from '../adapters/auth-limiter.ts';
import type { AuthResultValue } from './mail-auth-policy.ts';
import { ACCEPT, defer, type Verdict } from './verdict.ts';

/** The client's network as greylisting sees it: IPv4 /24, IPv6 /64 (a retry may come from a sibling address). */
export function greylistNetwork(ip: string): string {
  const k = clientKey(ip);
  if (isIPv4(k)) return `${k.split('.').slice(0, 3).join('.')}.0/24`;
  return k; // already "a:b:c:d::/64"
}

/**
 * The triplet's Redis key part: a SHA-256 of the three fields, so that any octet a client
 * puts in an address (quotes, spaces, UTF-8, `:` or `*`) makes a key of the same shape.
 */
export function tripletKey(ip: string, sender: string, recipient: string): string {
  return networkTripletKey(greylistNetwork(ip), sender, recipient);
}

/** tripletKey() for a client network already worked out (greylistNetwork(): once per session). */
export function networkTripletKey(network: string, sender: string, recipient: string): string {
  // crypto.hash(): one call, no Hash object (a third of createHash()'s time on this path, every RCPT).
  return hash('sha256', `${network}\0${sender.toLowerCase()}\0${recipient.toLowerCase()}`, 'base64url');
}

/** A CIDR list (GREYLIST_ALLOW_NETWORKS) as a matcher. Throws on a malformed entry. */
export function networkList(cidrs: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr = '', bits] = c.split('/');
    const type = isIPv6(addr) ? 'ipv6' : isIPv4(addr) ? 'ipv4' : null;
    if (!type) throw new Error(`not an address or network: ${c}`);
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (ip) => {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
    const a = mapped ?? ip;
    return list.check(a, isIPv6(a) ? 'ipv6' : 'ipv4');
  };
}

export type GreylistState = 'new' | 'early' | 'passed' | 'known' | 'client-allowlisted' | 'unavailable';

export const GREYLISTED = defer(451, '4.7.1', 'Greylisted, please try again later', 'greylisted');

export interface GreylistFacts {
  authenticated: boolean;
  allowlistedNetwork: boolean;
  nullSender: boolean;
  /**
   * SPF of MAIL FROM when its domain is on the operator's allowlist, or null (not listed, or
   * not asked yet: the check costs DNS, so it runs only when nothing else exempts).
   */
  allowlistedSenderSpf: AuthResultValue | null;
}

/** Why a RCPT is not greylisted at all, or null when it is subject to it. */
export function greylistExemption(facts: GreylistFacts): string | null {
  if (facts.authenticated) return 'authenticated';
  if (facts.allowlistedNetwork) return 'allowlisted-network';
  // Anyone can write any MAIL FROM: an allowlisted sender domain counts only when its SPF
  // record vouches for the client (softfail, neutral and temperror do not).
  if (facts.allowlistedSenderSpf === 'pass') return 'allowlisted-sender-spf';
  return null;
}

export function greylistVerdict(state: GreylistState): Verdict {
  return state === 'new' || state === 'early' ? GREYLISTED : ACCEPT;
}
