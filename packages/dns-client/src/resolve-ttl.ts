// node:dns's resolve(name, rrtype) with the answer's TTL, which node:dns does not show for
// anything but A/AAAA: the same question asked on the wire (UDP with EDNS, over TCP when the
// answer comes back truncated), the answer in node's shapes and node's error codes, and how
// long it may be kept — the smallest TTL of the answer's records (a CNAME chain included,
// RFC 2181 §5.2), or for NXDOMAIN and NODATA the negative TTL of the authority's SOA
// (RFC 2308 §5: min(SOA TTL, SOA MINIMUM); a negative answer without an SOA says nothing,
// null). Callers that keep answers (the inbound checks' memo in smtp-ingress) keep them no
// longer than that.
import { randomInt } from 'node:crypto';
import { RCODE, TYPE, decodeMessage, encodeQuery, type DnsMessage, type DnsRecord } from '@hopmail/dns-wire';
import { EDNS_UDP_SIZE, parseServer, tcpAsk, udpAsk } from './wire.ts';

/** An answer and how many seconds it may be kept (0: not at all; null: the answer did not say). */
export interface TtlAnswer {
  answer: unknown;
  ttl: number | null;
}

/** The types answered on the wire here; others go through node:dns (no TTL). */
export const TTL_TYPES = ['A', 'AAAA', 'MX', 'TXT', 'PTR', 'CNAME', 'NS'] as const;
type TtlType = (typeof TTL_TYPES)[number];

/** node:dns's error shape: `code` says what happened; NXDOMAIN/NODATA carry their negative `ttl` (null: no SOA). */
export function dnsError(code: string, name: string, ttl?: number | null): Error & { code: string; hostname: string; ttl?: number | null } {
  return Object.assign(new Error(`query${code === 'ENOTFOUND' || code === 'ENODATA' ? '' : 'Failed'} ${code} ${name}`), { code, hostname: name, ...(ttl === undefined ? {} : { ttl }) });
}

export function isTtlType(rrtype: string): rrtype is TtlType {
  return (TTL_TYPES as readonly string[]).includes(rrtype);
}

/** One record in the shape node:dns's resolve() gives for its type. */
function shape(r: DnsRecord): unknown {
  switch (r.type) {
    case 'A':
    case 'AAAA':
      return r.address;
    case 'MX':
      // As node:dns's resolve(name, 'MX') gives it (resolveMx() has no type).
      return { exchange: r.exchange, priority: r.preference, type: 'MX' };
    // node:dns decodes TXT character-strings as UTF-8, one array of strings per record.
    case 'TXT':
      return r.strings.map((s) => s.toString('utf8'));
    case 'CNAME':
    case 'PTR':
      return r.target;
    case 'NS':
      return r.host;
    default:
      return undefined;
  }
}

/** What a decoded reply means for `name`/`type`: an answer with its TTL, or a node-style error. */
export function interpret(msg: DnsMessage, name: string, type: TtlType): TtlAnswer | Error {
  if (msg.header.rcode === RCODE.NXDOMAIN) return dnsError('ENOTFOUND', name, negativeTtl(msg));
  if (msg.header.rcode === RCODE.SERVFAIL) return dnsError('ESERVFAIL', name);
  if (msg.header.rcode === RCODE.REFUSED) return dnsError('EREFUSED', name);
  if (msg.header.rcode === RCODE.NOTIMP) return dnsError('ENOTIMP', name);
  if (msg.header.rcode !== RCODE.NOERROR) return dnsError('EBADRESP', name);
  // The records of the type asked, and the CNAMEs that led to them (their TTLs bound the answer's).
  const wanted = msg.answers.filter((r) => r.type === type);
  if (!wanted.length) return dnsError('ENODATA', name, negativeTtl(msg));
  const chain = type === 'CNAME' ? [] : msg.answers.filter((r) => r.type === 'CNAME');
  const ttl = Math.min(...[...wanted, ...chain].map((r) => r.ttl));
  return { answer: wanted.map(shape), ttl };
}

/** RFC 2308 §5: the SOA of the authority section, min(its TTL, its MINIMUM); no SOA: null (the answer says no TTL). */
function negativeTtl(msg: DnsMessage): number | null {
  const soa = msg.authorities.find((r) => r.type === 'SOA');
  return soa && soa.type === 'SOA' ? Math.min(soa.ttl, soa.minimum) : null;
}

/**
 * Asks `servers` in turn (`tries` rounds), as c-ares does: a timeout, SERVFAIL or REFUSED
 * moves on to the next server; an answer, NXDOMAIN or NODATA ends the question.
 */
export async function resolveWithTtl(options: { servers: readonly string[]; timeoutMs: number; tries: number }, name: string, rrtype: TtlType): Promise<TtlAnswer> {
  const type = TYPE[rrtype];
  let last: Error = dnsError('ETIMEOUT', name);
  for (let i = 0; i < options.tries * options.servers.length; i++) {
    const { host, port } = parseServer(options.servers[i % options.servers.length]!);
    const id = randomInt(0, 0x10000);
    const query = encodeQuery({ id, name, type, udpSize: EDNS_UDP_SIZE });
    let reply = await udpAsk(host, port, query, id, options.timeoutMs);
    let msg = reply ? check(reply, id, name, type) : null;
    // RFC 1035 §4.2.2, RFC 7766: a truncated UDP answer is asked again over TCP.
    if (msg && !(msg instanceof Error) && msg.header.tc) {
      reply = await tcpAsk(host, port, query, options.timeoutMs);
      msg = reply ? check(reply, id, name, type) : null;
    }
    if (!msg) {
      last = dnsError('ETIMEOUT', name);
      continue;
    }
    if (msg instanceof Error) {
      last = msg;
      continue;
    }
    const out = interpret(msg, name, rrtype);
    if (out instanceof Error && ['ESERVFAIL', 'EREFUSED', 'ENOTIMP', 'EBADRESP'].includes((out as { code?: string }).code ?? '')) {
      last = out;
      continue;
    }
    if (out instanceof Error) throw out;
    return out;
  }
  throw last;
}

/** The reply decoded, if it answers our question (id and question echoed); else EBADRESP. */
function check(reply: Buffer, id: number, name: string, type: number): DnsMessage | Error {
  let msg: DnsMessage;
  try {
    msg = decodeMessage(reply);
  } catch {
    return dnsError('EBADRESP', name);
  }
  const q = msg.questions[0];
  if (!msg.header.qr || msg.header.id !== id || !q || q.type !== type || q.name.toLowerCase() !== name.toLowerCase().replace(/\.$/, '')) return dnsError('EBADRESP', name);
  return msg;
}
