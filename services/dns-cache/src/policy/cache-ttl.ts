// How long to cache an upstream answer. Pure.
// Positive answers: the smallest record TTL of the answer section, clamped to [min, max]
// (RFC 2181 §5.2: an RRset has one TTL; we keep one per message). Negative answers
// (NXDOMAIN, NODATA): min(SOA TTL, SOA MINIMUM) of the authority SOA (RFC 2308 §5), capped;
// without an SOA they are not cached (§5: "SHOULD NOT be cached"). SERVFAIL and other
// errors are never cached here.
import { RCODE, type DnsMessage, type DnsRecord, type SoaRecord } from '@hopmail/dns-wire';

export interface TtlPolicy {
  minTtl: number;
  maxTtl: number;
  negativeMaxTtl: number;
}

export type CacheKind = 'positive' | 'nxdomain' | 'nodata';

export type CacheDecision =
  | { cache: false; reason: string }
  | { cache: true; kind: CacheKind; ttl: number; answers: DnsRecord[]; authorities: DnsRecord[]; additionals: DnsRecord[] };

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

export function decideCaching(reply: DnsMessage, p: TtlPolicy): CacheDecision {
  const { rcode } = reply.header;
  if (reply.header.tc) return { cache: false, reason: 'truncated' };
  if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) return { cache: false, reason: `rcode ${rcode}` };
  if (rcode === RCODE.NOERROR && reply.answers.length > 0) {
    // One TTL for the whole entry (the smallest, clamped): every record is served with it,
    // so clients never hold a record longer than we do.
    const ttl = clamp(Math.min(...reply.answers.map((r) => r.ttl)), p.minTtl, p.maxTtl);
    const set = (r: DnsRecord): DnsRecord => ({ ...r, ttl });
    return { cache: true, kind: 'positive', ttl, answers: reply.answers.map(set), authorities: reply.authorities.map(set), additionals: reply.additionals.map(set) };
  }
  const soa = reply.authorities.find((r): r is SoaRecord => r.type === 'SOA');
  if (!soa) return { cache: false, reason: 'negative answer without SOA' };
  const ttl = clamp(Math.min(soa.ttl, soa.minimum), p.minTtl, Math.min(p.maxTtl, p.negativeMaxTtl));
  return {
    cache: true,
    kind: rcode === RCODE.NXDOMAIN ? 'nxdomain' : 'nodata',
    ttl,
    // a CNAME chain that ends in NXDOMAIN/NODATA keeps its CNAMEs
    answers: reply.answers.map((r) => ({ ...r, ttl })),
    authorities: [{ ...soa, ttl }],
    additionals: [],
  };
}
