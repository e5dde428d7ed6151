import type { FastifyInstance } from 'fastify';
import { notFound } from '../../errors.ts';
import { coversDomain, domainLimit } from '../../policy/scope.ts';
import { RECIPIENT_STATUSES } from '../../policy/queue-filter.ts';
import { address, errors, page, text, timestamp } from '../schemas.ts';
import { pageArgs, pageOut, principalOf, type ApiDeps } from './context.ts';
import { forbidden } from '../../errors.ts';

export const uuid = { type: 'string', pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', description: 'queue id (UUIDv7)' } as const;
const cursor = { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$', description: 'opaque; the nextCursor of the previous page' } as const;
const limit = { type: 'integer', minimum: 1, maximum: 500, description: 'page size (1 to 500)' } as const;

const rcpt = {
  type: 'object',
  required: ['address', 'status'],
  additionalProperties: false,
  properties: { address: { type: 'string' }, status: { type: 'string', enum: [...RECIPIENT_STATUSES] } },
} as const;

const message = {
  type: 'object',
  required: ['id', 'receivedAt', 'sender', 'size', 'headerMessageId', 'clientIp', 'authUser', 'tls', 'spam', 'recipients', 'authResults'],
  additionalProperties: false,
  properties: {
    id: uuid,
    receivedAt: timestamp,
    sender: { type: 'string', description: "envelope sender; '' is the null sender <>" },
    size: { type: 'integer' },
    headerMessageId: { type: ['string', 'null'] },
    clientIp: { type: ['string', 'null'] },
    authUser: { type: ['string', 'null'] },
    tls: { type: 'boolean' },
    spam: {
      type: ['object', 'null'],
      description: "rspamd's verdict at ingress: {checked: true, action, score, required, symbols: {name: score}} or {checked: false, reason: 'unavailable'}; null when no content filter ran",
      additionalProperties: true,
    },
    recipients: { type: 'array', items: rcpt },
    authResults: {
      type: ['object', 'null'],
      additionalProperties: true,
      description:
        'inbound authentication at smtp-ingress (port 25): spf, dkim[], dkimSkipped, dmarc, arc (each with its RFC 8601 result), authservId and the Authentication-Results header it added; null when not checked (submission, DSNs, checks off)',
    },
  },
} as const;

const traceEvent = {
  type: 'object',
  required: ['id', 'at', 'type', 'recipient', 'service', 'actor', 'data'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer' },
    at: timestamp,
    type: {
      type: 'string',
      enum: ['received', 'routed', 'delivered-mailbox', 'delivered', 'relay-attempt', 'deferred', 'bounced', 'dsn-sent', 'delay-warning', 'deleted-by-pop3', 'admin-action'],
    },
    recipient: { type: ['string', 'null'] },
    service: { type: ['string', 'null'] },
    actor: { type: ['string', 'null'] },
    data: { type: 'object', additionalProperties: true, description: 'type-specific details (client IP, MX, remote reply, next attempt…)' },
  },
} as const;

const tags = ['messages'];

export function messageRoutes(app: FastifyInstance, { messages, defaultLimit }: ApiDeps): void {
  app.get<{ Querystring: { queueId?: string; messageId?: string; sender?: string; recipient?: string; status?: string; since?: string; until?: string; limit?: number; cursor?: string } }>(
    '/messages',
    {
      schema: {
        tags,
        summary: 'Search messages, newest first',
        description: 'All filters combine. A domain-admin key sees only messages with a recipient in its domains.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            queueId: uuid,
            messageId: text(998, { description: 'Message-ID header, with or without <>' }),
            sender: text(254, { description: "envelope sender; '<>' for the null sender" }),
            recipient: address,
            status: { type: 'string', enum: [...RECIPIENT_STATUSES], description: 'some recipient has this status' },
            since: { ...timestamp, description: 'received at or after' },
            until: { ...timestamp, description: 'received before' },
            limit,
            cursor,
          },
        },
        response: { 200: page(message), ...errors() },
      },
    },
    async (req) => {
      const q = req.query;
      return pageOut(
        await messages.search(
          { queueId: q.queueId?.toLowerCase(), headerMessageId: q.messageId, sender: q.sender, recipient: q.recipient, status: q.status, since: q.since, until: q.until },
          domainLimit(principalOf(req)),
          pageArgs(q, defaultLimit),
        ),
      );
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: number; cursor?: string } }>(
    '/messages/:id/trace',
    {
      schema: {
        tags,
        summary: "A message's timeline across every hop",
        description:
          'received (client IP, TLS, auth user, size), routed, delivered-mailbox, relay-attempt (MX, reply, TLS), deferred (next attempt), bounced, ' +
          'dsn-sent, delay-warning, deleted-by-pop3, admin-action; in time order, with the message and its recipients\' current state.',
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: uuid } },
        querystring: { type: 'object', additionalProperties: false, properties: { limit, cursor } },
        response: {
          200: {
            type: 'object',
            required: ['message', 'events', 'nextCursor'],
            additionalProperties: false,
            properties: { message, events: { type: 'array', items: traceEvent }, nextCursor: { type: ['string', 'null'] } },
          },
          ...errors(404),
        },
      },
    },
    async (req) => {
      const id = req.params.id.toLowerCase();
      const t = await messages.trace(id, pageArgs(req.query, 500));
      if (!t) throw notFound(`message ${id} does not exist`);
      const p = principalOf(req);
      if (!t.message.domains.some((d) => coversDomain(p, d))) throw forbidden(`this key is not allowed to see message ${id}`);
      const { domains: _d, ...message } = t.message;
      const out = pageOut(t);
      return { message, events: out.items, nextCursor: out.nextCursor };
    },
  );
}
