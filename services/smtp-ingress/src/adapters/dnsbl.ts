// DNSBL/DNSWL look-ups through the cluster's resolver (dns-cache: one cache for all replicas).
// Never throws: a failed or odd answer counts as "not listed" and is reported to onProblem.

import type { DnsClient } from '@hopmail/dns-client';
import { classifyAnswer, dnsblQueryName, type DnsblResult, type DnsblSite } from '../policy/dnsbl-policy.ts';

export type DnsblLookup = (ip: string) => Promise<DnsblResult>;

export function createDnsblLookup(deps: {
  dns: DnsClient;
  sites: readonly DnsblSite[];
  /** How long a client's result is kept in this process (DNSBL_CACHE_MS; 0: not at all). */
  cacheMs?: number;
  onProblem(site: DnsblSite, problem: string): void;
  onListed?(site: DnsblSite): void;
}): DnsblLookup {
  // A client that reconnects (one connection per message is how MX traffic arrives) would
  // otherwise cost a round trip to dns-cache per list and connection; postscreen keeps its
  // DNSBL results too (postscreen_dnsbl_ttl). A result with a problem is not kept.
  const cacheMs = deps.cacheMs ?? 0;
  const memo = new Map<string, { at: number; result: Promise<DnsblResult> }>();
  return (ip) => {
    if (cacheMs <= 0) return lookup(ip).then((r) => r.result);
    const now = Date.now();
    const hit = memo.get(ip);
    if (hit && now - hit.at < cacheMs) return hit.result;
    const answer = lookup(ip);
    const result = answer.then((r) => r.result);
    if (memo.size >= 10_000) memo.clear();
    memo.set(ip, { at: now, result });
    void answer.then((r) => {
      if (r.problem && memo.get(ip)?.result === result) memo.delete(ip);
    });
    return result;
  };

  async function lookup(ip: string): Promise<{ result: DnsblResult; problem: boolean }> {
    let problem = false;
    const onProblem = (site: DnsblSite, text: string) => {
      problem = true;
      deps.onProblem(site, text);
    };
    const listedBy: DnsblSite[] = [];
    await Promise.all(
      deps.sites.map(async (site) => {
        const name = dnsblQueryName(ip, site.zone);
        if (!name) return;
        let answers: string[];
        try {
          answers = (await deps.dns.resolve(name, 'A')) as string[];
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          if (code !== 'ENOTFOUND' && code !== 'ENODATA') onProblem(site, `lookup failed: ${code || (err as Error).message}`);
          return;
        }
        let listed = false;
        for (const a of answers) {
          const c = classifyAnswer(site, a);
          if (c === 'listed') listed = true;
          else if (c === 'refused' || c === 'invalid') onProblem(site, `answer ${a} (${c === 'refused' ? 'query refused by the list' : 'not a list answer'}): not counted`);
        }
        if (listed) {
          listedBy.push(site);
          deps.onListed?.(site);
        }
      }),
    );
    listedBy.sort((a, b) => b.weight - a.weight);
    return { result: { score: listedBy.reduce((s, x) => s + x.weight, 0), listedBy }, problem };
  }
}
