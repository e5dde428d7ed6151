// Mailbox quotas, cached like the directory (`cacheMs`): choosing the fast path must not
// cost a round trip. A quota set on a mailbox takes effect after at most `cacheMs`.
import type { RoutingStore } from '../store.ts';

// Past this many mailboxes the cache starts over rather than grow without bound.
const MAX_ENTRIES = 10_000;

export class QuotaCache {
  private readonly cache = new Map<number, { at: number; quota: number }>();
  private readonly store: Pick<RoutingStore, 'mailboxQuotas'>;
  private readonly cacheMs: number;

  constructor(options: { store: Pick<RoutingStore, 'mailboxQuotas'>; cacheMs: number }) {
    this.store = options.store;
    this.cacheMs = options.cacheMs;
  }

  /** True when every mailbox exists (as far as the cache knows) and has no quota. */
  async allUnlimited(ids: readonly number[]): Promise<boolean> {
    const now = Date.now();
    const missing = ids.filter((id) => {
      const hit = this.cache.get(id);
      return !hit || now - hit.at >= this.cacheMs;
    });
    if (missing.length > 0) {
      const quotas = await this.store.mailboxQuotas(missing);
      if (quotas.size < missing.length) return false; // a mailbox is gone: the careful path bounces it
      if (this.cache.size > MAX_ENTRIES) this.cache.clear();
      for (const [id, quota] of quotas) this.cache.set(id, { at: now, quota });
    }
    return ids.every((id) => (this.cache.get(id)?.quota ?? 1) === 0);
  }
}
