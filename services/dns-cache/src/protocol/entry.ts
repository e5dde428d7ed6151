// A cached answer and its byte form in Redis. Pure.
// Layout: version (1) | storedAt ms (float64) | ttl s (uint32) | DNS message (our codec).
import { RCODE, decodeMessage, emptyHeader, encodeMessage, type DnsRecord } from '@hopmail/dns-wire';
import type { CacheKind } from '../policy/cache-ttl.ts';

export interface CacheEntry {
  kind: CacheKind;
  rcode: number;
  /** epoch ms when it entered the cache */
  storedAt: number;
  /** seconds it is fresh for */
  ttl: number;
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
  /** The validating upstream set AD (DNSSEC-secure data). Absent in entries written before: false. */
  ad: boolean;
}

const VERSION = 1;
const PREFIX = 13;

export function serializeEntry(e: CacheEntry): Buffer {
  const h = emptyHeader();
  h.qr = true;
  h.rcode = e.rcode;
  h.ad = e.ad;
  const body = encodeMessage({ header: h, questions: [], answers: e.answers, authorities: e.authorities, additionals: e.additionals });
  const out = Buffer.allocUnsafe(PREFIX + body.length);
  out[0] = VERSION;
  out.writeDoubleBE(e.storedAt, 1);
  out.writeUInt32BE(e.ttl, 9);
  body.copy(out, PREFIX);
  return out;
}

/** undefined for anything we did not write (other version, corrupt). */
export function deserializeEntry(buf: Buffer): CacheEntry | undefined {
  if (buf.length < PREFIX + 12 || buf[0] !== VERSION) return undefined;
  try {
    const m = decodeMessage(buf.subarray(PREFIX));
    const rcode = m.header.rcode;
    const kind: CacheKind = rcode === RCODE.NXDOMAIN ? 'nxdomain' : m.answers.length ? 'positive' : 'nodata';
    return { kind, rcode, storedAt: buf.readDoubleBE(1), ttl: buf.readUInt32BE(9), answers: m.answers, authorities: m.authorities, additionals: m.additionals, ad: m.header.ad };
  } catch {
    return undefined;
  }
}

/** Seconds of freshness left; negative once expired. */
export function remainingTtl(e: CacheEntry, now: number): number {
  return e.ttl - Math.floor((now - e.storedAt) / 1000);
}

/** Records with their TTLs counted down by the entry's age (RFC 1035 §6.1.2), or set to `fixedTtl` (stale). */
export function agedRecords(records: DnsRecord[], e: CacheEntry, now: number, fixedTtl?: number): DnsRecord[] {
  const age = Math.max(0, Math.floor((now - e.storedAt) / 1000));
  return records.map((r) => ({ ...r, ttl: fixedTtl ?? Math.max(0, r.ttl - age) }));
}
