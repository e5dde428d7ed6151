// The cache in front of the upstreams: process LRU, then Redis, then one upstream query per
// question at a time (identical concurrent questions share it). When the upstreams fail, or
// do not answer within the budget, an expired answer is served if it is young enough
// (RFC 8767), else SERVFAIL: a client is never left waiting past DNS_ANSWER_BUDGET_MS.
import { RCODE, typeName, type DnsMessage, type DnsQuestion, type DnsRecord } from '@hopmail/dns-wire';
import type { Logger } from '@hopmail/service-kit';
import type { SharedCache } from './adapters/redis-cache.ts';
import type { Lru } from './adapters/lru.ts';
import type { UpstreamClient } from './adapters/upstream.ts';
import { EVENT, UpstreamError } from './errors.ts';
import type { Metrics } from './metrics.ts';
import { decideCaching, type TtlPolicy } from './policy/cache-ttl.ts';
import { agedRecords, remainingTtl, type CacheEntry } from './protocol/entry.ts';

export interface Sections {
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

export type Resolution =
  | { source: 'lru' | 'redis' | 'upstream' | 'stale'; rcode: number; sections: Sections }
  | { source: 'servfail'; reason: string };

export interface ResolverOptions extends TtlPolicy {
  lru: Lru<CacheEntry>;
  shared: SharedCache;
  upstream: UpstreamClient;
  logger: Logger;
  metrics: Metrics;
  budgetMs: number;
  /** distinct questions in flight upstream at most */
  maxInflight: number;
  /** collapse identical misses across replicas too: one replica asks, the others wait for its entry in Redis */
  collapseAcrossReplicas: boolean;
  /** how long a replica waits for another's answer before asking itself */
  peerWaitMs: number;
  serveStaleMaxS: number;
  staleTtl: number;
  now?: () => number;
}

type Fetched = { entry: CacheEntry } | { uncached: DnsMessage };

export function createResolver(o: ResolverOptions) {
  const now = o.now ?? Date.now;
  const inflight = new Map<string, Promise<Fetched>>();
  /** key → until when a name whose upstreams failed is answered stale without asking (RFC 8767 §4) */
  const failedUntil = new Map<string, number>();
  const staleWindowMs = o.serveStaleMaxS * 1000;

  const usableStale = (e: CacheEntry, t: number) => staleWindowMs > 0 && remainingTtl(e, t) * 1000 > -staleWindowMs;

  const fromEntry = (e: CacheEntry, source: 'lru' | 'redis' | 'upstream' | 'stale', t: number): Resolution => {
    const fixed = source === 'stale' ? o.staleTtl : undefined;
    return {
      source,
      rcode: e.rcode,
      sections: { answers: agedRecords(e.answers, e, t, fixed), authorities: agedRecords(e.authorities, e, t, fixed), additionals: agedRecords(e.additionals, e, t, fixed) },
    };
  };

  /** Another replica is asking: wait for its entry to appear in Redis, or for its claim to go. */
  const awaitPeer = async (key: string): Promise<CacheEntry | undefined> => {
    const until = now() + o.peerWaitMs;
    while (now() < until) {
      await new Promise((r) => setTimeout(r, 10));
      const seen = await o.shared.peek(key);
      if (!seen) return undefined;
      if (seen.entry && remainingTtl(seen.entry, now()) > 0) return seen.entry;
      if (!seen.claimed) return undefined;
    }
    return undefined;
  };

  const fetch = async (q: DnsQuestion, key: string): Promise<Fetched> => {
    let claimed = false;
    if (o.collapseAcrossReplicas) {
      const claim = await o.shared.claim(key, o.peerWaitMs);
      if (claim === false) {
        const peer = await awaitPeer(key);
        if (peer) {
          o.metrics.collapsed.inc();
          o.lru.set(key, peer);
          return { entry: peer };
        }
      }
      claimed = claim === true;
    }
    try {
      const reply = await o.upstream.resolve(q);
      const d = decideCaching(reply, o);
      if (!d.cache || d.ttl <= 0) return { uncached: reply };
      const entry: CacheEntry = { kind: d.kind, rcode: reply.header.rcode, storedAt: now(), ttl: d.ttl, answers: d.answers, authorities: d.authorities, additionals: d.additionals };
      o.lru.set(key, entry);
      failedUntil.delete(key);
      // The client's answer does not wait for Redis (shared.set never throws). The claim is
      // released only after the write, so a waiting replica finds the entry, not a gap.
      void o.shared.set(key, entry, (entry.ttl + o.serveStaleMaxS) * 1000, claimed);
      claimed = false;
      return { entry };
    } finally {
      if (claimed) void o.shared.release(key);
    }
  };

  const servfail = (reason: string, q: DnsQuestion): Resolution => {
    o.metrics.servfail.inc({ reason });
    o.logger.info({ event: EVENT.servfail, qname: q.name, qtype: typeName(q.type), reason }, 'answering SERVFAIL');
    return { source: 'servfail', reason };
  };

  const serveStale = (e: CacheEntry, key: string, q: DnsQuestion, reason: string, t: number): Resolution => {
    o.metrics.stale.inc();
    failedUntil.set(key, t + o.staleTtl * 1000);
    if (failedUntil.size > 100_000) failedUntil.clear(); // bounded memory under a flood of failing names
    o.logger.info({ event: EVENT.staleServed, qname: q.name, qtype: typeName(q.type), reason, expiredS: -remainingTtl(e, t) }, 'serving stale answer');
    return fromEntry(e, 'stale', t);
  };

  return {
    inflightCount: () => inflight.size,

    async resolve(q: DnsQuestion, key: string): Promise<Resolution> {
      const started = now();
      let stale: CacheEntry | undefined;
      const cached = o.lru.get(key);
      if (cached) {
        if (remainingTtl(cached, started) > 0) {
          o.metrics.lookups.hits++;
          return fromEntry(cached, 'lru', started);
        }
        if (usableStale(cached, started)) stale = cached;
        else o.lru.delete(key);
      }
      const shared = await o.shared.get(key);
      const t1 = now();
      if (shared) {
        if (remainingTtl(shared, t1) > 0) {
          o.lru.set(key, shared);
          o.metrics.lookups.hits++;
          return fromEntry(shared, 'redis', t1);
        }
        if (usableStale(shared, t1) && (!stale || shared.storedAt > stale.storedAt)) stale = shared;
      }
      o.metrics.lookups.misses++;
      if (stale && (failedUntil.get(key) ?? 0) > t1) return serveStale(stale, key, q, 'recently failed', t1);

      let p = inflight.get(key);
      if (p) {
        o.metrics.collapsed.inc();
      } else if (inflight.size >= o.maxInflight) {
        if (stale) return serveStale(stale, key, q, 'overloaded', t1);
        return servfail('overload', q);
      } else {
        p = fetch(q, key).finally(() => inflight.delete(key));
        p.catch(() => {}); // the budget may win the race; the rejection is handled below or nowhere
        inflight.set(key, p);
      }
      let timer: NodeJS.Timeout | undefined;
      const budgetLeft = Math.max(0, o.budgetMs - (now() - started));
      try {
        const got = await Promise.race([
          p,
          new Promise<'budget'>((resolve) => {
            timer = setTimeout(() => resolve('budget'), budgetLeft);
          }),
        ]);
        if (got === 'budget') {
          if (stale) return serveStale(stale, key, q, 'answer budget exhausted', now());
          return servfail('budget', q);
        }
        if ('entry' in got) return fromEntry(got.entry, 'upstream', now());
        const m = got.uncached;
        return { source: 'upstream', rcode: m.header.rcode === RCODE.NXDOMAIN ? RCODE.NXDOMAIN : RCODE.NOERROR, sections: { answers: m.answers, authorities: m.authorities, additionals: m.additionals } };
      } catch (err) {
        const reason = err instanceof UpstreamError ? err.reason : 'error';
        if (stale) return serveStale(stale, key, q, `upstreams failed: ${reason}`, now());
        o.logger.warn({ event: EVENT.allUpstreamsFailed, qname: q.name, qtype: typeName(q.type), reason, err: (err as Error).message }, 'every upstream failed and nothing is cached');
        return servfail(reason, q);
      } finally {
        clearTimeout(timer);
      }
    },

    /** Resolves once no upstream query is in flight (for graceful stop). */
    async drain(): Promise<void> {
      await Promise.allSettled([...inflight.values()]);
    },
  };
}

export type Resolver = ReturnType<typeof createResolver>;
