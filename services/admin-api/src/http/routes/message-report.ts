import type { FastifyInstance } from 'fastify';
import type { MessageSearch } from '../../adapters/messages.ts';
import type { Report, SpamTrainer } from '../../adapters/spam-trainer.ts';
import { ApiError, forbidden, notFound } from '../../errors.ts';
import { coversDomain } from '../../policy/scope.ts';
import { errors } from '../schemas.ts';
import { principalOf } from './context.ts';
import { uuid } from './messages.ts';

/** POST /v1/messages/{id}/report: trains rspamd's Bayes classifier from the stored message. */
export function messageReportRoutes(app: FastifyInstance, { messages, trainer }: { messages: MessageSearch; trainer: SpamTrainer | null }): void {
  app.post<{ Params: { id: string }; Body: { kind: Report } }>(
    '/messages/:id/report',
    {
      config: { access: 'write', action: 'message.report' },
      schema: {
        tags: ['messages'],
        summary: 'Report a message as spam or ham (trains rspamd)',
        description: "The stored message, as received, goes to rspamd's controller (learn_spam / learn_ham). 503 when no rspamd is configured (RSPAMD_CONTROLLER_URL) or it failed.",
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: uuid } },
        body: { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { type: 'string', enum: ['spam', 'ham'] } } },
        response: {
          200: {
            type: 'object',
            required: ['id', 'kind', 'learned', 'message'],
            additionalProperties: false,
            properties: { id: uuid, kind: { type: 'string', enum: ['spam', 'ham'] }, learned: { type: 'boolean', description: 'false: rspamd had already learned it' }, message: { type: 'string' } },
          },
          ...errors(404),
        },
      },
    },
    async (req) => {
      const id = req.params.id.toLowerCase();
      const { kind } = req.body;
      const m = await messages.get(id);
      if (!m) throw notFound(`message ${id} does not exist`);
      const p = principalOf(req);
      if (!m.domains.some((d) => coversDomain(p, d))) throw forbidden(`this key is not allowed to see message ${id}`);
      if (!trainer) throw new ApiError('unavailable', 'no content filter configured (RSPAMD_CONTROLLER_URL is empty)');
      req.audit = { target: id, details: { kind } };
      let r;
      try {
        r = await trainer.learn(id, kind);
      } catch (err) {
        throw new ApiError('unavailable', `rspamd could not learn the message: ${(err as Error).message}`, err);
      }
      if (!r.found) throw notFound(`message ${id} does not exist`);
      return { id, kind, learned: r.learned, message: r.message };
    },
  );
}
