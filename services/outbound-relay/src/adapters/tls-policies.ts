// The TLS policy of a destination domain: the operator's entry, else MTA-STS (DNS through
// dns-cache, the PostgreSQL cache shared by every replica, the HTTPS fetch when the id
// changed or nothing valid is cached), else none. Failures of discovery are reported
// (TLS-RPT) and never block delivery on their own (RFC 8461 §5.1).
import type { DnsClient } from '@hopmail/dns-client';
import type { Logger } from 'pino';
import { EVENTS } from '../events.ts';
import { decideSts, parseStsPolicy, parseStsTxt } from '../policy/mta-sts.ts';
import type { DomainTls } from '../policy/tls-policy.ts';
import { fetchStsPolicy, type StsFetchOptions } from './mta-sts.ts';
import type { TlsStore } from './tls-store.ts';

export interface TlsPoliciesDeps {
  store: TlsStore;
  dns: DnsClient;
  fetch: Omit<StsFetchOptions, 'dns'>;
  /** RELAY_MTA_STS: discovery on. */
  mtaSts: boolean;
  logger: Logger;
  now: () => Date;
}

export type TlsPolicies = (domain: string) => Promise<DomainTls>;

export function createTlsPolicies({ store, dns, fetch, mtaSts, logger, now }: TlsPoliciesDeps): TlsPolicies {
  return async (domain) => {
    const d = domain.toLowerCase();
    const { operator, sts } = await store.lookup(d);
    if (operator) return { source: 'operator', policy: operator };
    if (!mtaSts) return { source: 'none' };
    const txt = await dns.txt(`_mta-sts.${d}`);
    const verdict = txt.ok ? parseStsTxt(txt.value) : txt.kind === 'temporary' ? 'dns-failure' : { kind: 'none' as const };
    const decision = decideSts(verdict, sts, now());
    if (decision.kind === 'use') return { source: 'sts', policy: decision.policy };
    if (decision.kind === 'none') return { source: 'none' };
    const fetched = await fetchStsPolicy(d, { ...fetch, dns });
    const parsed = fetched.ok ? parseStsPolicy(fetched.body) : null;
    if (fetched.ok && parsed?.ok) {
      const saved = await store.saveSts(d, decision.id, parsed.policy, fetched.body, now());
      logger.info({ event: EVENTS.stsPolicyFetched, domain: d, policyId: decision.id, mode: parsed.policy.mode, maxAge: parsed.policy.maxAge }, 'MTA-STS policy fetched');
      return { source: 'sts', policy: saved };
    }
    const reason = fetched.ok ? (parsed as { reason: string }).reason : fetched.reason;
    const resultType = fetched.ok ? 'sts-policy-invalid' : 'sts-policy-fetch-error';
    logger.warn({ event: EVENTS.stsPolicyFailed, domain: d, policyId: decision.id, resultType, reason, cached: !!decision.fallback }, 'MTA-STS policy could not be fetched');
    if (decision.fallback) {
      await store.noteStsFailure(d, reason, now());
      return { source: 'sts', policy: decision.fallback };
    }
    return { source: 'none', failure: { resultType, detail: reason } };
  };
}
