import type { FastifyInstance } from 'fastify';
import type { ServiceReplicas } from '@hopmail/service-kit';
import type { OverviewStore } from '../../adapters/overview.ts';
import { errors } from '../schemas.ts';

export interface OverviewDeps {
  overview: OverviewStore;
  /** The replicas' heartbeats (Redis); bounded by the caller. */
  services(): Promise<ServiceReplicas[]>;
}

const WINDOW_MINUTES = 60;
const count = { type: 'integer', minimum: 0 } as const;

const overviewBody = {
  type: 'object',
  required: ['now', 'windowMinutes', 'traffic', 'queues', 'services'],
  additionalProperties: false,
  properties: {
    now: { type: 'string', format: 'date-time' },
    windowMinutes: { type: 'integer' },
    traffic: {
      type: 'array',
      description: 'one entry per minute of the window, oldest first; the last is the current, partial minute',
      items: {
        type: 'object',
        required: ['minute', 'received', 'delivered', 'deferred', 'bounced'],
        additionalProperties: false,
        properties: {
          minute: { type: 'string', format: 'date-time' },
          received: { ...count, description: 'messages committed by smtp-ingress (and DSNs)' },
          delivered: { ...count, description: 'recipients delivered, to a mailbox or to a remote server' },
          deferred: { ...count, description: 'deferrals (a recipient may be deferred several times)' },
          bounced: { ...count, description: 'recipients given up (bounced or failed)' },
        },
      },
    },
    queues: {
      type: 'array',
      description: "samples of the queue depths, oldest first: each BullMQ queue's unfinished jobs, and unfinished recipients per status (queued, relay, deferred, held)",
      items: {
        type: 'object',
        required: ['at', 'depths'],
        additionalProperties: false,
        properties: { at: { type: 'string', format: 'date-time' }, depths: { type: 'object', additionalProperties: { type: 'integer' } } },
      },
    },
    services: {
      type: ['array', 'null'],
      description: 'replicas per service from their heartbeats; null when Redis does not answer',
      items: {
        type: 'object',
        required: ['service', 'replicas', 'ready', 'instances'],
        additionalProperties: false,
        properties: {
          service: { type: 'string' },
          replicas: { ...count, description: 'replicas with a recent heartbeat' },
          ready: { ...count, description: 'of those, how many passed their readiness checks' },
          instances: {
            type: 'array',
            items: {
              type: 'object',
              required: ['instance', 'host', 'pid', 'startedAt', 'at', 'ready', 'stale'],
              additionalProperties: false,
              properties: {
                instance: { type: 'string' },
                host: { type: 'string' },
                pid: { type: 'integer' },
                startedAt: { type: 'string', format: 'date-time' },
                at: { type: 'string', format: 'date-time', description: 'last heartbeat' },
                ready: { type: 'boolean' },
                stale: { type: 'boolean', description: 'no heartbeat for three intervals: gone' },
              },
            },
          },
        },
      },
    },
  },
} as const;

export function overviewRoutes(app: FastifyInstance, { overview, services }: OverviewDeps): void {
  app.get(
    '/overview',
    {
      config: { access: 'read-global' },
      schema: {
        tags: ['overview'],
        summary: "The console's overview in one answer: traffic per minute, queue depths and replicas over the last hour",
        description: 'Read from a per-minute rollup, the housekeeper\'s queue samples and the services\' heartbeats: its cost does not grow with the number of messages. Poll it (every few seconds) rather than anything per message.',
        response: { 200: overviewBody, ...errors() },
      },
    },
    async () => {
      const [traffic, queues, replicas] = await Promise.all([overview.traffic(WINDOW_MINUTES), overview.queueSamples(WINDOW_MINUTES), services().catch(() => null)]);
      return {
        now: traffic.now,
        windowMinutes: WINDOW_MINUTES,
        traffic: traffic.minutes,
        queues,
        services: replicas?.map((s) => ({ ...s, instances: s.instances.map(({ service: _s, ...i }) => i) })) ?? null,
      };
    },
  );
}
