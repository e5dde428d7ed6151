import type { FastifyInstance } from 'fastify';
import type { WebhookTester } from '../../adapters/webhook-test.ts';
import { notFound } from '../../errors.ts';
import { errors } from '../schemas.ts';
import { noteAudit } from './context.ts';
import { uuid } from './messages.ts';

export function webhookTestRoutes(app: FastifyInstance, { tester }: { tester: WebhookTester }): void {
  app.post<{ Params: { id: string } }>(
    '/webhooks/:id/test',
    {
      config: { access: 'admin', action: 'webhook.test' },
      schema: {
        tags: ['webhooks'],
        summary: 'Send a test event now and return what the receiver answered',
        description:
          'POSTs a signed `webhook.test` event (same headers and signature as real events, same public-address rule) and waits up to 10 s. ' +
          'The outcome is returned, not recorded: it does not count towards disabling the webhook.',
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { ...uuid, description: 'webhook id' } } },
        body: { type: 'object', additionalProperties: false, properties: {}, description: 'empty: {}' },
        response: {
          200: {
            type: 'object',
            required: ['ok', 'status', 'error', 'ms', 'body', 'eventId'],
            additionalProperties: false,
            properties: {
              ok: { type: 'boolean', description: 'the receiver answered 2xx' },
              status: { type: ['integer', 'null'], description: 'HTTP status, null when there was no answer' },
              error: { type: ['string', 'null'] },
              ms: { type: 'integer' },
              body: { type: ['string', 'null'], description: 'the start of the answer (2000 bytes at most)' },
              eventId: { type: 'string' },
            },
          },
          ...errors(404, 413, 415),
        },
      },
    },
    async (req) => {
      const r = await tester.test(req.params.id.toLowerCase());
      if (!r) throw notFound(`webhook ${req.params.id} does not exist`);
      noteAudit(req, `webhook:${req.params.id.toLowerCase()}`, { ok: r.ok, status: r.status });
      return r;
    },
  );
}
