// The cache in front of the upstreams: process LRU, then Redis, then one upstream query per
// question at a time (identical concurrent questions share it). When the upstreams fail, or
// do not answer within the budget, an expired answer is served if it is young enough
// (RFC 8767), else SERVFAIL: a client is never left waiting past DNS_ANSWER_BUDGET_MS.
import { RCODE, typeName, type DnsMessage, type DnsQuestion, type DnsRecord } from '@hopmail/dns-wire';
import { TimeoutError, withTimeout, type Logger } from '@hopmail/service-kit';
import type { SharedCache } from './adapters/redis-cache.ts';
import type { Lru } from './adapters/lru.ts';
import type { UpstreamClient } from './adapters/upstream.ts';
import { UpstreamError } from './errors.ts';
import { EVENTS } from './events.ts';
import type { Metrics } from './metrics.ts';
import { decideCaching, type TtlPolicy } from './policy/cache-ttl.ts';
import { agedRecords, remainingTtl, type CacheEntry } from './protocol/entry.ts';

export interface Sections {
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

export type Resolution =
  /** ad: the data was validated by a validating upstream (never for stale answers). */
  | { source: 'lru' | 'redis' | 'upstream' | 'stale'; rcode: number; sections: Sections; ad: boolean }
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

export function createResolver(options: ResolverOptions) {
  const now = options.now ?? Date.now;
  const inflight = new Map<string, Promise<Fetched>>();
  /** key → until when a name whose upstreams failed is answered stale without asking (RFC 8767 §4) */
  const failedUntil = new Map<string, number>();
  const staleWindowMs = options.serveStaleMaxS * 1000;

  const usableStale = (e: CacheEntry, t: number) => staleWindowMs > 0 && remainingTtl(e, t) * 1000 > -staleWindowMs;

  const fromEntry = (e: CacheEntry, source: 'lru' | 'redis' | 'upstream' | 'stale', t: number): Resolution => {
    const fixed = source === 'stale' ? options.staleTtl : undefined;
    return {
      source,
      rcode: e.rcode,
      ad: e.ad && source !== 'stale',
      sections: { answers: agedRecords(e.answers, e, t, fixed), authorities: agedRecords(e.authorities, e, t, fixed), additionals: agedRecords(e.additionals, e, t, fixed) },
    };
  };

  /** Another replica is asking: wait for its entry to appear in Redis, or for its claim to go. */
  const awaitPeer = async (key: string): Promise<CacheEntry | undefined> => {
    const until = now() + options.peerWaitMs;
    while (now() < until) {
      await new Promise((r) => setTimeout(r, 10));
      const seen = await options.shared.peek(key);
      if (!seen) return undefined;
      if (seen.entry && remainingTtl(seen.entry, now()) > 0) return seen.entry;
      if (!seen.claimed) return undefined;
    }
    return undefined;
  };

  const fetch = async (q: DnsQuestion, key: string): Promise<Fetched> => {
    let claimed = false;
    if (options.collapseAcrossReplicas) {
      const claim = await options.shared.claim(key, options.peerWaitMs);
      if (claim === false) {
        const peer = await awaitPeer(key);
        if (peer) {
          options.metrics.collapsed.inc();
          options.lru.set(key, peer);
          return { entry: peer };
        }
      }
      claimed = claim === true;
    }
    try {
      const reply = await options.upstream.resolve(q);
      const d = decideCaching(reply, options);
      if (!d.cache || d.ttl <= 0) return { uncached: reply };
      const entry: CacheEntry = { kind: d.kind, rcode: reply.header.rcode, storedAt: now(), ttl: d.ttl, answers: d.answers, authorities: d.authorities, additionals: d.additionals, ad: reply.header.ad };
      options.lru.set(key, entry);
      failedUntil.delete(key);
      // The client's answer does not wait for Redis (shared.set never throws). The claim is
      // released only after the write, so a waiting replica finds the entry, not a gap.
      void options.shared.set(key, entry, (entry.ttl + options.serveStaleMaxS) * 1000, claimed);
      claimed = false;
      return { entry };
    } finally {
      if (claimed) void options.shared.release(key);
    }
  };

  const servfail = (reason: string, q: DnsQuestion): Resolution => {
    options.metrics.servfail.inc({ reason });
    options.logger.info({ event: EVENTS.servfail, qname: q.name, qtype: typeName(q.type), reason }, 'answering SERVFAIL');
    return { source: 'servfail', reason };
  };

  const serveStale = (e: CacheEntry, key: string, q: DnsQuestion, reason: string, t: number): Resolution => {
    options.metrics.stale.inc();
    failedUntil.set(key, t + options.staleTtl * 1000);
    if (failedUntil.size > 100_000) failedUntil.clear(); // bounded memory under a flood of failing names
    options.logger.info({ event: EVENTS.staleServed, qname: q.name, qtype: typeName(q.type), reason, expiredS: -remainingTtl(e, t) }, 'serving stale answer');
    return fromEntry(e, 'stale', t);
  };

  return {
    inflightCount: () => inflight.size,

    async resolve(q: DnsQuestion, key: string): Promise<Resolution> {
      const started = now();
      let stale: CacheEntry | undefined;
      const cached = options.lru.get(key);
      if (cached) {
        if (remainingTtl(cached, started) > 0) {
          options.metrics.lookups.hits++;
          return fromEntry(cached, 'lru', started);
        }
        if (usableStale(cached, started)) stale = cached;
        else options.lru.delete(key);
      }
      const shared = await options.shared.get(key);
      const t1 = now();
      if (shared) {
        if (remainingTtl(shared, t1) > 0) {
          options.lru.set(key, shared);
          options.metrics.lookups.hits++;
          return fromEntry(shared, 'redis', t1);
        }
        if (usableStale(shared, t1) && (!stale || shared.storedAt > stale.storedAt)) stale = shared;
      }
      options.metrics.lookups.misses++;
      if (stale && (failedUntil.get(key) ?? 0) > t1) return serveStale(stale, key, q, 'recently failed', t1);

      let p = inflight.get(key);
      if (p) {
        options.metrics.collapsed.inc();
      } else if (inflight.size >= options.maxInflight) {
        if (stale) return serveStale(stale, key, q, 'overloaded', t1);
        return servfail('overload', q);
      } else {
        p = fetch(q, key).finally(() => inflight.delete(key));
        p.catch(() => {}); // the budget may win the race; the rejection is handled below or nowhere
        inflight.set(key, p);
      }
      const budgetLeft = Math.max(0, options.budgetMs - (now() - started));
      try {
        // The budget does not cancel the exchange: it may finish later and fill the cache.
        const got = await withTimeout(p, budgetLeft, 'the upstream answer');
        if ('entry' in got) return fromEntry(got.entry, 'upstream', now());
        const m = got.uncached;
        return { source: 'upstream', ad: m.header.ad, rcode: m.header.rcode === RCODE.NXDOMAIN ? RCODE.NXDOMAIN : RCODE.NOERROR, sections: { answers: m.answers, authorities: m.authorities, additionals: m.additionals } };
      } catch (err) {
        // Only the budget times out here: fetch() rejects with UpstreamError or a plain error.
        if (err instanceof TimeoutError) {
          if (stale) return serveStale(stale, key, q, 'answer budget exhausted', now());
          return servfail('budget', q);
        }
        const reason = err instanceof UpstreamError ? err.kind : 'error';
        if (stale) return serveStale(stale, key, q, `upstreams failed: ${reason}`, now());
        options.logger.warn({ event: EVENTS.allUpstreamsFailed, qname: q.name, qtype: typeName(q.type), reason, err: (err as Error).message }, 'every upstream failed and nothing is cached');
        return servfail(reason, q);
      }
    },

    /** Resolves once no upstream query is in flight (for graceful stop). */
    async drain(): Promise<void> {
      await Promise.allSettled([...inflight.values()]);
    },
  };
}

export type Resolver = ReturnType<typeof createResolver>;
