// Refusals by stage and reason, in 5-minute buckets in Redis, for admin-api's
// GET /v1/abuse/stats (refusals over the last hour and day across every replica).
// The key format is the contract with services/admin-api/src/adapters/abuse-stats.ts:
//   <prefix>:abuse:<bucket>  hash  "<stage>:<reason>" → count,  bucket = floor(ms / 300000)
// Best effort: a lost increment only makes a statistic smaller; never waits, never throws.

import type { Redis } from 'ioredis';

export const ABUSE_BUCKET_MS = 300_000;
const KEEP_MS = 25 * 3_600_000;

export interface AbuseStats {
  record(stage: string, reason: string, now: number): void;
}

export function createAbuseStats(deps: { redis: Redis; prefix: string; onError(err: unknown): void }): AbuseStats {
  return {
    record(stage, reason, now) {
      const key = `${deps.prefix}:abuse:${Math.floor(now / ABUSE_BUCKET_MS)}`;
      deps.redis.multi().hincrby(key, `${stage}:${reason}`, 1).pexpire(key, KEEP_MS).exec().catch(deps.onError);
    },
  };
}
