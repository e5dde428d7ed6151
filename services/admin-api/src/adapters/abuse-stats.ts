// Refusals counted by smtp-ingress (its adapters/abuse-stats.ts writes them): 5-minute buckets
//   <prefix>:abuse:<floor(ms / 300000)>  hash  "<stage>:<reason>" → count
// summed over the last hour (12 buckets) and day (288), in one pipeline.
import type { Redis } from 'ioredis';

const BUCKET_MS = 300_000;

export interface AbuseStatsReport {
  lastHour: Record<string, number>;
  lastDay: Record<string, number>;
}

export function abuseStatsReader(redis: Redis, prefix: string): (now: number) => Promise<AbuseStatsReport> {
  return async (now) => {
    const current = Math.floor(now / BUCKET_MS);
    const pipeline = redis.pipeline();
    for (let i = 0; i < 288; i++) pipeline.hgetall(`${prefix}:abuse:${current - i}`);
    const results = (await pipeline.exec()) ?? [];
    const lastHour: Record<string, number> = {};
    const lastDay: Record<string, number> = {};
    results.forEach(([err, value], i) => {
      if (err) throw err;
      for (const [reason, n] of Object.entries((value ?? {}) as Record<string, string>)) {
        const count = Number(n) || 0;
        lastDay[reason] = (lastDay[reason] ?? 0) + count;
        if (i < 12) lastHour[reason] = (lastHour[reason] ?? 0) + count;
      }
    });
    return { lastHour, lastDay };
  };
}
