// DNS blocklists and allowlists (postscreen's dnsbl test): each site is a zone, the answers
// that count (return-code meanings) and a weight; a negative weight is an allowlist. The
// client's score is the sum of the weights of the sites that list it. Pure: the syntax, the
// query names, the score and the verdict. adapters/dnsbl.ts asks DNS through dns-cache.

import { isIPv4, isIPv6 } from 'node:net';
import { reject, type Verdict, ACCEPT } from './verdict.ts';

export interface DnsblSite {
  zone: string;
  /** Per octet of the answer: the values that count; null: any 127.x answer counts. */
  codes: ((n: number) => boolean)[] | null;
  weight: number;
  /** As written, for logs and the reply. */
  spec: string;
}

/**
 * postscreen_dnsbl_sites syntax, comma-separated: `zone[=pattern][*weight]`, the pattern four
 * octets each `n`, `[a..b]` or `[a;b;c]`: `zen.spamhaus.org=127.0.0.[2..11]*3,
 * bl.spamcop.net*2, list.dnswl.org=127.0.[0..255].[1..3]*-2`. Throws on a malformed site.
 */
export function parseDnsblSites(text: string): DnsblSite[] {
  const sites: DnsblSite[] = [];
  for (const raw of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?:=([0-9.;[\]]+))?(?:\*(-?\d{1,4}))?$/.exec(raw);
    if (!m) throw new Error(`not a DNSBL site (zone[=pattern][*weight]): ${raw}`);
    let codes: DnsblSite['codes'] = null;
    if (m[2]) {
      const octets = m[2].match(/\[[^\]]*\]|[^.[\]]+/g) ?? [];
      if (octets.length !== 4) throw new Error(`DNSBL pattern needs four octets: ${raw}`);
      codes = octets.map((o) => {
        const range = /^\[(\d{1,3})\.\.(\d{1,3})\]$/.exec(o);
        if (range) return (n: number) => n >= Number(range[1]) && n <= Number(range[2]);
        const set = /^\[(\d{1,3}(?:;\d{1,3})*)\]$/.exec(o);
        if (set) {
          const values = new Set(set[1]!.split(';').map(Number));
          return (n: number) => values.has(n);
        }
        if (/^\d{1,3}$/.test(o)) return (n: number) => n === Number(o);
        throw new Error(`bad DNSBL pattern octet ${o} in ${raw}`);
      });
    }
    sites.push({ zone: m[1]!.toLowerCase(), codes, weight: m[3] === undefined ? 1 : Number(m[3]), spec: raw });
  }
  return sites;
}

/** The name to ask under `zone`: reversed octets (IPv4) or nibbles (IPv6, RFC 5782 §2.4); null for anything else. */
export function dnsblQueryName(ip: string, zone: string): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  const a = mapped ?? ip;
  if (isIPv4(a)) return `${a.split('.').reverse().join('.')}.${zone}`;
  if (!isIPv6(a)) return null;
  const [head = '', tail = ''] = a.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = a.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = a.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const nibbles = groups.map((g) => g.padStart(4, '0')).join('');
  return `${[...nibbles].reverse().join('.')}.${zone}`;
}

/**
 * Whether an answer lists the client. 127.255.255.0/24 is how lists say "query refused" (over
 * quota, open resolver): no listing, reported as `refused`. Answers outside 127/8 are no list
 * answer at all (a wildcard, a hijacking resolver): `invalid`.
 */
export function classifyAnswer(site: DnsblSite, address: string): 'listed' | 'not-listed' | 'refused' | 'invalid' {
  if (!isIPv4(address)) return 'invalid';
  const o = address.split('.').map(Number);
  if (o[0] !== 127) return 'invalid';
  if (o[1] === 255 && o[2] === 255) return 'refused';
  if (!site.codes) return 'listed';
  return site.codes.every((f, i) => f(o[i]!)) ? 'listed' : 'not-listed';
}

export interface DnsblResult {
  score: number;
  /** Sites that listed the client (positive weight first), for the reply, the log and the metric. */
  listedBy: DnsblSite[];
}

export function dnsblVerdict(result: DnsblResult, threshold: number, ip: string): Verdict {
  if (result.score < threshold) return ACCEPT;
  const worst = [...result.listedBy].filter((s) => s.weight > 0).sort((a, b) => b.weight - a.weight)[0];
  return reject(554, '5.7.1', `Service unavailable; client [${ip}] blocked using ${worst?.zone ?? 'DNS blocklists'}`, 'dnsbl');
}
