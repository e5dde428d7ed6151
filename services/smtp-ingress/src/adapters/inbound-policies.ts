// The InboundPolicies port on PostgreSQL: the recipient domains' inbound settings
// (domains.inbound_dmarc_enforce / inbound_spf_reject, NULL = the cluster default) and
// whether the author domain is one of ours. One query per message, cached like the
// directory (DIRECTORY_CACHE_MS).

import type { Pool } from 'pg';
import type { InboundPolicy } from '../policy/mail-auth-policy.ts';
import type { InboundPolicies } from '../ports.ts';

interface DomainRow {
  name: string;
  kind: string;
  dmarc: boolean | null;
  spf: boolean | null;
}

export function createInboundPolicies(options: { pool: Pool; defaults: { dmarcEnforce: boolean; spfReject: boolean }; cacheMs: number }): InboundPolicies {
  const { pool, defaults, cacheMs } = options;
  const cache = new Map<string, { at: number; row: DomainRow | null }>();

  async function rows(names: string[]): Promise<Map<string, DomainRow | null>> {
    const out = new Map<string, DomainRow | null>();
    const now = Date.now();
    const missing: string[] = [];
    for (const n of names) {
      const hit = cacheMs > 0 ? cache.get(n) : undefined;
      if (hit && now - hit.at < cacheMs) out.set(n, hit.row);
      else missing.push(n);
    }
    if (missing.length) {
      const r = await pool.query<DomainRow>(
        'SELECT name, kind, inbound_dmarc_enforce AS dmarc, inbound_spf_reject AS spf FROM domains WHERE lower(name) = ANY($1::text[])',
        [missing],
      );
      const found = new Map(r.rows.map((row) => [row.name.toLowerCase(), row]));
      for (const n of missing) {
        const row = found.get(n) ?? null;
        out.set(n, row);
        if (cacheMs > 0) {
          if (cache.size > 10_000) cache.clear();
          cache.set(n, { at: now, row });
        }
      }
    }
    return out;
  }

  return {
    async forMessage(recipientDomains, authorDomain): Promise<InboundPolicy> {
      const names = [...new Set(recipientDomains.map((d) => d.toLowerCase()))];
      const author = authorDomain?.toLowerCase() ?? null;
      const found = await rows(author && !names.includes(author) ? [...names, author] : names);
      // Strictest wins: the reply to DATA is one for every recipient.
      let dmarcEnforce = false;
      let spfReject = false;
      for (const n of names) {
        const row = found.get(n);
        dmarcEnforce ||= row?.dmarc ?? defaults.dmarcEnforce;
        spfReject ||= row?.spf ?? defaults.spfReject;
      }
      if (!names.length) ({ dmarcEnforce, spfReject } = defaults);
      return { dmarcEnforce, spfReject, authorLocal: author !== null && found.get(author)?.kind === 'local' };
    },
  };
}
