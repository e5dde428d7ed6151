// Lookups through the cluster's name servers (dns-cache by default): every service that asks
// DNS anything (MX and addresses for the relay, TXT for SPF/DKIM/DMARC, PTR) goes through
// here, so answers are cached once for the whole cluster and failures mean the same
// everywhere: nxdomain and nodata are answers, anything else is temporary.
import { randomInt } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { RCODE, decodeMessage, encodeQuery, type DnsMessage } from '@hopmail/dns-wire';
import { int, z } from '@hopmail/config';
import { isTtlType, resolveWithTtl, type TtlAnswer } from './resolve-ttl.ts';
import { EDNS_UDP_SIZE, parseServer, udpAsk } from './wire.ts';

export type { TtlAnswer } from './resolve-ttl.ts';

/** The keys every DNS-using service spreads into its schema. */
export const dnsClientConfig = {
  DNS_SERVERS: z
    .string()
    .default('127.0.0.1:5353')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .describe('comma-separated ip[:port] name servers (dns-cache by default)'),
  DNS_TIMEOUT_MS: int(3000, 50, 60_000, 'per-try DNS timeout; a timeout is a temporary failure'),
  DNS_TRIES: int(2, 1, 10, 'DNS tries per query before giving up (temporary failure)'),
} as const;

export type DnsFailureKind = 'nxdomain' | 'nodata' | 'temporary';
export type DnsResult<T> = { ok: true; value: T } | { ok: false; kind: DnsFailureKind; code: string };

export interface MxRecord {
  exchange: string;
  priority: number;
}

export type RrType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'CNAME' | 'NS' | 'SRV' | 'TLSA';

export interface DnsClient {
  mx(domain: string): Promise<DnsResult<MxRecord[]>>;
  /** A and AAAA of a host: addresses, IPv4 first; nodata when the host has neither. */
  addresses(host: string): Promise<DnsResult<string[]>>;
  /** TXT records, each joined from its strings (RFC 7208 §3.3). */
  txt(name: string): Promise<DnsResult<string[]>>;
  /**
   * node:dns's resolve(name, rrtype): throws with its error codes (ENOTFOUND, ENODATA,
   * ETIMEOUT…). The shape libraries such as mailauth take as their resolver.
   */
  resolve(name: string, rrtype?: string): Promise<unknown>;
  /**
   * resolve() with how long the answer may be kept, in seconds (resolve-ttl.ts): the
   * answer's smallest TTL; errors as resolve()'s, NXDOMAIN and NODATA with their negative
   * TTL (RFC 2308) as `ttl`, null without an SOA. `ttl` is null for types asked through
   * node:dns (no TTL shown).
   */
  resolveWithTtl?(name: string, rrtype?: string): Promise<TtlAnswer>;
}

export function failureOf(err: unknown): { kind: DnsFailureKind; code: string } {
  const code = (err as { code?: string }).code ?? 'EUNKNOWN';
  if (code === 'ENOTFOUND' || code === 'NXDOMAIN') return { kind: 'nxdomain', code };
  if (code === 'ENODATA') return { kind: 'nodata', code };
  // SERVFAIL, ETIMEOUT, ECONNREFUSED, EREFUSED, EBADRESP …: nothing is known, try later.
  return { kind: 'temporary', code };
}

export function createDnsClient(options: { servers: readonly string[]; timeoutMs: number; tries: number }): DnsClient {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: options.tries });
  resolver.setServers([...options.servers]);
  async function q<T>(fn: () => Promise<T>): Promise<DnsResult<T>> {
    try {
      return { ok: true, value: await fn() };
    } catch (err) {
      return { ok: false, ...failureOf(err) };
    }
  }
  return {
    mx: (domain) => q(() => resolver.resolveMx(domain)),
    txt: (name) => q(async () => (await resolver.resolveTxt(name)).map((parts) => parts.join(''))),
    async addresses(host) {
      const [a, aaaa] = await Promise.all([q(() => resolver.resolve4(host)), q(() => resolver.resolve6(host))]);
      const out = [...(a.ok ? a.value : []), ...(aaaa.ok ? aaaa.value : [])];
      if (out.length) return { ok: true, value: out };
      // The most informative failure: temporary beats nxdomain beats nodata.
      const fails = [a, aaaa].filter((r): r is Extract<DnsResult<string[]>, { ok: false }> => !r.ok);
      return fails.find((f) => f.kind === 'temporary') ?? fails.find((f) => f.kind === 'nxdomain') ?? { ok: false, kind: 'nodata', code: 'ENODATA' };
    },
    resolve: (name, rrtype = 'A') => resolver.resolve(name, rrtype as 'A'),
    resolveWithTtl: async (name, rrtype = 'A') => (isTtlType(rrtype) ? resolveWithTtl(options, name, rrtype) : { answer: await resolver.resolve(name, rrtype as 'A'), ttl: null }),
  };
}

/** A TLSA record (RFC 6698 §2.1). */
export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  data: Buffer;
}

/**
 * TLSA records of `name` with whether the answer was DNSSEC-validated: the AD bit of the
 * cluster's name server (dns-cache passes it only from validating upstreams, RFC 6840 §5.7).
 * A raw query, since node:dns shows no AD bit. nxdomain/nodata are answers (no TLSA).
 */
export async function lookupTlsa(options: { servers: readonly string[]; timeoutMs: number; tries: number }, name: string): Promise<DnsResult<{ records: TlsaRecord[]; authenticated: boolean }>> {
  const r = await rawLookup(options, name, 52);
  if (!r.ok) return r;
  const records = r.value.msg.answers.flatMap((a) => (a.type === 'UNKNOWN' && a.typeCode === 52 && a.rdata.length >= 3 ? [{ usage: a.rdata[0]!, selector: a.rdata[1]!, matchingType: a.rdata[2]!, data: a.rdata.subarray(3) }] : []));
  if (!records.length) return { ok: false, kind: 'nodata', code: 'ENODATA' };
  return { ok: true, value: { records, authenticated: r.value.msg.header.ad } };
}

/**
 * Whether the address records of `host` are DNSSEC-validated: an A or AAAA answer (records or
 * a proven absence) with the AD bit. RFC 7672 §2.2.2: for such a host a TLSA look-up that
 * fails (not NXDOMAIN/NODATA) makes the host unusable. A failed look-up is not secure.
 */
export async function addressesAuthenticated(options: { servers: readonly string[]; timeoutMs: number; tries: number }, host: string): Promise<boolean> {
  const answers = await Promise.all([1, 28].map((type) => rawLookup(options, host, type)));
  return answers.some((r) => r.ok && r.value.msg.header.ad);
}

/** One question over UDP with the AD bit asked for: the reply when NOERROR; NXDOMAIN, else temporary. */
async function rawLookup(options: { servers: readonly string[]; timeoutMs: number; tries: number }, name: string, type: number): Promise<DnsResult<{ msg: DnsMessage }>> {
  let last: DnsResult<never> = { ok: false, kind: 'temporary', code: 'ETIMEOUT' };
  for (let i = 0; i < options.tries * options.servers.length; i++) {
    const { host, port } = parseServer(options.servers[i % options.servers.length]!);
    const id = randomInt(0, 0x10000);
    const reply = await udpAsk(host, port, encodeQuery({ id, name, type, ad: true, udpSize: EDNS_UDP_SIZE }), id, options.timeoutMs);
    if (!reply) continue;
    let msg: DnsMessage;
    try {
      msg = decodeMessage(reply);
    } catch {
      last = { ok: false, kind: 'temporary', code: 'EBADRESP' };
      continue;
    }
    if (msg.header.id !== id || msg.header.tc) {
      last = { ok: false, kind: 'temporary', code: msg.header.tc ? 'ETRUNCATED' : 'EBADRESP' };
      continue;
    }
    if (msg.header.rcode === RCODE.NXDOMAIN) return { ok: false, kind: 'nxdomain', code: 'ENOTFOUND' };
    if (msg.header.rcode !== RCODE.NOERROR) {
      last = { ok: false, kind: 'temporary', code: `RCODE${msg.header.rcode}` };
      continue;
    }
    return { ok: true, value: { msg } };
  }
  return last;
}
