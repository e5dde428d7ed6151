import type { FastifyInstance } from 'fastify';
import { errors, page, text, timestamp } from '../schemas.ts';
import { pageArgs, pageOut, type ApiDeps } from './context.ts';

const entry = {
  type: 'object',
  required: ['id', 'at', 'actor', 'keyId', 'action', 'target', 'status', 'requestId', 'remoteIp', 'details'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer' },
    at: timestamp,
    actor: { type: 'string', description: "'bootstrap' (ADMIN_TOKEN) or 'key:<id>'" },
    keyId: { type: ['string', 'null'] },
    action: { type: 'string', description: 'e.g. mailbox.create, queue.retry, key.revoke' },
    target: { type: ['string', 'null'] },
    status: { type: 'integer', description: 'HTTP status: 2xx done, 403 refused' },
    requestId: { type: ['string', 'null'] },
    remoteIp: { type: ['string', 'null'] },
    details: { type: 'object', additionalProperties: true, description: 'request body without secrets, and counts of bulk actions' },
  },
} as const;

export function auditRoutes(app: FastifyInstance, { auditLog, defaultLimit }: ApiDeps): void {
  app.get<{ Querystring: { actor?: string; action?: string; since?: string; until?: string; limit?: number; cursor?: string } }>(
    '/audit',
    {
      config: { access: 'read-global' },
      schema: {
        tags: ['audit'],
        summary: 'The audit log, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            actor: text(100),
            action: text(100),
            since: timestamp,
            until: timestamp,
            limit: { type: 'integer', minimum: 1, maximum: 500 },
            cursor: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$' },
          },
        },
        response: { 200: page(entry), ...errors() },
      },
    },
    async (req) => pageOut(await auditLog.list({ actor: req.query.actor, action: req.query.action, since: req.query.since, until: req.query.until, ...pageArgs(req.query, defaultLimit) })),
  );
}
