// The allowlist and blocklist (migration 0020) in this process's memory, shared by every
// replica through PostgreSQL: each replica asks every ABUSE_LISTS_REFRESH_MS whether the
// lists changed — (max(id), count(*)) of a table whose rows are only added and removed — and
// reloads them when they did. A failed refresh keeps the lists it had.

import type { Pool } from '@hopmail/db';
import { buildAbuseLists, EMPTY_LISTS, type AbuseListEntry, type AbuseLists } from '../policy/abuse-list-policy.ts';

export interface AbuseListCache {
  current(): AbuseLists;
  /** Loads the lists once, then keeps them fresh until close(). */
  start(): Promise<void>;
  close(): void;
}

export function createAbuseListCache(deps: { pool: Pool; refreshMs: number; onError(err: unknown): void; onLoaded?(entries: number): void }): AbuseListCache {
  let lists = EMPTY_LISTS;
  let seen = '';
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  async function refresh(): Promise<void> {
    const v = await deps.pool.query<{ version: string }>("SELECT coalesce(max(id), 0) || ':' || count(*) AS version FROM abuse_list_entries");
    const version = v.rows[0]!.version;
    if (version === seen) return;
    const r = await deps.pool.query<AbuseListEntry>('SELECT id::int, list, network::text AS network, domain, reason FROM abuse_list_entries ORDER BY id');
    lists = buildAbuseLists(r.rows);
    seen = version;
    deps.onLoaded?.(r.rows.length);
  }
  const loop = () => {
    if (closed) return;
    timer = setTimeout(() => {
      refresh().catch(deps.onError).finally(loop);
    }, deps.refreshMs);
    timer.unref();
  };

  return {
    current: () => lists,
    async start() {
      await refresh().catch(deps.onError);
      loop();
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}
