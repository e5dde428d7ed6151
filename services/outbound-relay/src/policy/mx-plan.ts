// Which hosts to try for a domain, in what order (RFC 5321 §5.1, RFC 7505), and loop checks.
import { isIP } from 'node:net';

export interface MxRecord {
  exchange: string;
  priority: number;
}

export type MxPlan =
  | { kind: 'hosts'; hosts: string[]; implicit: boolean }
  | { kind: 'null-mx' };

/**
 * MX records → host names in preference order, random among equal preferences (RFC 5321 §5.1).
 * `records` empty (NODATA) → the domain itself (implicit MX). A single MX "." (node reports
 * exchange '') is a Null MX (RFC 7505 §3): the domain accepts no mail.
 */
export function planMx(domain: string, records: readonly MxRecord[] | 'nodata', random: () => number = Math.random): MxPlan {
  if (records === 'nodata' || records.length === 0) return { kind: 'hosts', hosts: [domain], implicit: true };
  const norm = records.map((r) => ({ exchange: r.exchange.replace(/\.$/, '').toLowerCase(), priority: r.priority }));
  if (norm.some((r) => r.exchange === '' )) {
    // RFC 7505 §3: a Null MX must be the only MX; with others present the "." record is unusable
    // and the rest are used, which is what skipping it does.
    const rest = norm.filter((r) => r.exchange !== '');
    if (rest.length === 0) return { kind: 'null-mx' };
    return planMx(domain, rest, random);
  }
  const shuffled = norm.map((r) => ({ ...r, k: random() })).sort((a, b) => a.priority - b.priority || a.k - b.k);
  const hosts: string[] = [];
  for (const r of shuffled) if (!hosts.includes(r.exchange)) hosts.push(r.exchange);
  return { kind: 'hosts', hosts, implicit: false };
}

/** True for addresses that always mean "this machine": loopback, unspecified. */
export function isLoopback(ip: string): boolean {
  const v = isIP(ip);
  if (v === 4) return ip.startsWith('127.') || ip === '0.0.0.0';
  if (v === 6) {
    const l = ip.toLowerCase();
    return l === '::1' || l === '::' || l.startsWith('::ffff:127.');
  }
  return false;
}

/**
 * An MX pointing back at us is a loop (RFC 5321 §5.1: "MUST NOT deliver to itself"). The host
 * name equal to our own name is always a loop; loopback and our own addresses are, unless tests
 * allow them (RELAY_ALLOW_LOOPBACK_MX).
 */
export function isLoop(opts: { mxHost: string; ip?: string; ourHostname: string; ownAddresses: ReadonlySet<string>; allowLoopback: boolean }): boolean {
  if (opts.mxHost.replace(/\.$/, '').toLowerCase() === opts.ourHostname.toLowerCase()) return true;
  if (!opts.ip || opts.allowLoopback) return false;
  return isLoopback(opts.ip) || opts.ownAddresses.has(opts.ip.toLowerCase());
}
