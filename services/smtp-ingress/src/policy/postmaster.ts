// RFC 5321 §4.5.1: a server that delivers mail MUST accept "postmaster" — bare
// (`RCPT TO:<Postmaster>`, §4.1.1.3), at every domain it serves, and (§4.1.3, §4.5.1) at its own
// address literal — case-insensitively. Pure decisions; the ingress looks up where the mail goes
// (POSTMASTER_ADDRESS, else the cluster's first mailbox: see smtp-ingress(8)).
import { isIP } from 'node:net';

const LOCAL = /^postmaster$/i;

/** The local part is "postmaster", in any case (`PostMaster@example.org`, `postmaster`). */
export function isPostmaster(address: string): boolean {
  const at = address.lastIndexOf('@');
  return LOCAL.test(at < 0 ? address : address.slice(0, at));
}

/** `::ffff:192.0.2.1` (a v4 client on a dual-stack socket) is 192.0.2.1. */
function plainIp(ip: string): string {
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return (v4 ? v4[1]! : ip).toLowerCase();
}

/** The IP of an address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`), or null. */
export function literalIp(domain: string): string | null {
  const m = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(domain);
  return m && isIP(m[1]!) ? plainIp(m[1]!) : null;
}

export interface ServerIdentity {
  hostname: string;
  /** The address the client connected to; null when unknown. */
  localIp: string | null;
}

/**
 * The server's own postmaster rather than a domain's: `<postmaster>`, `<postmaster@[the address the
 * client connected to]>` and `<postmaster@our host name>`.
 */
export function namesServerPostmaster(address: string, server: ServerIdentity): boolean {
  if (!isPostmaster(address)) return false;
  const at = address.lastIndexOf('@');
  if (at < 0) return true;
  const domain = address.slice(at + 1);
  if (domain.toLowerCase() === server.hostname.toLowerCase()) return true;
  const ip = literalIp(domain);
  return ip !== null && server.localIp !== null && ip === plainIp(server.localIp);
}
