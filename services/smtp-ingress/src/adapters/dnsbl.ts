// DNSBL/DNSWL look-ups through the cluster's resolver (dns-cache: one cache for all replicas).
// Never throws: a failed or odd answer counts as "not listed" and is reported to onProblem.

import type { DnsClient } from '@hopmail/dns-client';
import { classifyAnswer, dnsblQueryName, type DnsblResult, type DnsblSite } from '../policy/dnsbl-policy.ts';

export type DnsblLookup = (ip: string) => Promise<DnsblResult>;

export function createDnsblLookup(deps: { dns: DnsClient; sites: readonly DnsblSite[]; onProblem(site: DnsblSite, problem: string): void; onListed?(site: DnsblSite): void }): DnsblLookup {
  return async (ip) => {
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
          if (code !== 'ENOTFOUND' && code !== 'ENODATA') deps.onProblem(site, `lookup failed: ${code || (err as Error).message}`);
          return;
        }
        let listed = false;
        for (const a of answers) {
          const c = classifyAnswer(site, a);
          if (c === 'listed') listed = true;
          else if (c === 'refused' || c === 'invalid') deps.onProblem(site, `answer ${a} (${c === 'refused' ? 'query refused by the list' : 'not a list answer'}): not counted`);
        }
        if (listed) {
          listedBy.push(site);
          deps.onListed?.(site);
        }
      }),
    );
    listedBy.sort((a, b) => b.weight - a.weight);
    return { score: listedBy.reduce((s, x) => s + x.weight, 0), listedBy };
  };
}
