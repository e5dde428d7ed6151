// In which order to try the addresses of one MX host, pure (RFC 8305 §4: sort by the
// preferred family, then interleave the families so a broken path of one costs one
// connection-attempt delay, not a whole connect timeout). Postfix: smtp_address_preference.
import { isIP } from 'node:net';

export const ADDRESS_ORDERS = ['ipv6', 'ipv4', 'ipv6-first', 'ipv4-first', 'ipv6-only', 'ipv4-only'] as const;
/**
 * ipv6 / ipv4: interleaved, starting with that family (RFC 8305's default is ipv6);
 * *-first: every address of that family before any of the other; *-only: that family alone.
 */
export type AddressOrder = (typeof ADDRESS_ORDERS)[number];

export function orderAddresses(ips: readonly string[], order: AddressOrder): string[] {
  const v6 = ips.filter((ip) => isIP(ip) === 6);
  const v4 = ips.filter((ip) => isIP(ip) === 4);
  const [first, second] = order.startsWith('ipv6') ? [v6, v4] : [v4, v6];
  if (order.endsWith('-only')) return first;
  if (order.endsWith('-first')) return [...first, ...second];
  const out: string[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) {
    if (i < first.length) out.push(first[i]!);
    if (i < second.length) out.push(second[i]!);
  }
  return out;
}
