import type { FastifyInstance } from 'fastify';
import { withTimeout } from '@hopmail/service-kit';
import type { AbuseStatsReport } from '../../adapters/abuse-stats.ts';
import { ApiError } from '../../errors.ts';
import { errors } from '../schemas.ts';

const counts = { type: 'object', additionalProperties: { type: 'integer' }, description: '"<stage>:<reason>" → refusals (stage connect, mail, rcpt, data, auth, protocol)' } as const;

/** GET /v1/abuse/stats: what smtp-ingress refused, by stage and reason, over the last hour and day (every replica). */
export function abuseRoutes(app: FastifyInstance, { stats }: { stats: ((now: number) => Promise<AbuseStatsReport>) | null }): void {
  app.get(
    '/abuse/stats',
    {
      schema: {
        tags: ['abuse'],
        summary: 'Refusals by stage and reason over the last hour and day',
        description: 'Counted by every smtp-ingress replica in Redis (5-minute buckets): DNSBL, greylisting, rate limits, spam, unknown recipients, protocol errors… 503 when Redis is unreachable.',
        response: {
          200: { type: 'object', required: ['lastHour', 'lastDay'], additionalProperties: false, properties: { lastHour: counts, lastDay: counts } },
          ...errors(),
        },
      },
    },
    async () => {
      if (!stats) throw new ApiError('unavailable', 'abuse statistics are not available');
      try {
        return await withTimeout(stats(Date.now()), 2000, 'abuse statistics (Redis)');
      } catch (err) {
        throw new ApiError('unavailable', 'abuse statistics unavailable: Redis did not answer', err);
      }
    },
  );
}
