import type { FastifyInstance } from 'fastify';
import { PUBLIC_EVENT_TYPES } from '@hopmail/events';
import { badRequest, notFound } from '../../errors.ts';
import { newSecret } from '../../adapters/webhooks.ts';
import { bodyErrors, errors, noContent, page, text, timestamp } from '../schemas.ts';
import { noteAudit, pageArgs, pageOut, type ApiDeps } from './context.ts';
import { uuid } from './messages.ts';
import { isPublicAddress, literalAddress } from '@hopmail/events';
import { EVENTS } from '../../events.ts';

const tags = ['webhooks'];
const events = { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: PUBLIC_EVENT_TYPES } } as const;
const url = text(2048, { description: 'http(s) URL the events are POSTed to' });
const secret = text(200, { minLength: 16, description: 'HMAC-SHA256 key for the Hopmail-Signature header; generated when omitted; never returned after creation', writeOnly: true });

const webhook = {
  type: 'object',
  required: ['id', 'url', 'events', 'description', 'enabled', 'disabledReason', 'failures', 'lastSuccessAt', 'lastFailureAt', 'lastError', 'createdAt', 'updatedAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', format: 'uuid' },
    url: { type: 'string' },
    events,
    description: { type: 'string' },
    enabled: { type: 'boolean' },
    disabledReason: { type: ['string', 'null'] },
    failures: { type: 'integer', description: 'consecutive failed POSTs' },
    lastSuccessAt: { type: ['string', 'null'], format: 'date-time' },
    lastFailureAt: { type: ['string', 'null'], format: 'date-time' },
    lastError: { type: ['string', 'null'] },
    createdAt: timestamp,
    updatedAt: timestamp,
  },
} as const;

const delivery = {
  type: 'object',
  required: ['id', 'webhookId', 'eventId', 'eventType', 'status', 'attempts', 'nextAttemptAt', 'lastStatus', 'lastError', 'createdAt', 'deliveredAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer' },
    webhookId: { type: 'string' },
    eventId: { type: 'string' },
    eventType: { type: 'string' },
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    attempts: { type: 'integer' },
    nextAttemptAt: { type: ['string', 'null'], format: 'date-time' },
    lastStatus: { type: ['integer', 'null'] },
    lastError: { type: ['string', 'null'] },
    createdAt: timestamp,
    deliveredAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { ...uuid, description: 'webhook id' } } } as const;
const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 500 }, cursor: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$' } },
} as const;

function checkUrl(u: string, allowPrivate: boolean): string {
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    throw badRequest('body.url is not a URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw badRequest('body.url must be http or https');
  if (parsed.username || parsed.password) throw badRequest('body.url must not carry credentials; authenticate with the signature');
  // A name is checked by the housekeeper on every delivery, on the address it resolves to.
  const literal = literalAddress(parsed);
  if (!allowPrivate && literal !== null && !isPublicAddress(literal)) {
    throw badRequest(`body.url points at ${literal}, which is not a public address; set WEBHOOK_ALLOW_PRIVATE=true to allow receivers inside your own network`);
  }
  return parsed.toString();
}

export function webhookRoutes(app: FastifyInstance, { webhooks, defaultLimit, webhookAllowPrivate }: ApiDeps): void {
  app.post<{ Body: { url: string; events: string[]; secret?: string; description?: string } }>(
    '/webhooks',
    {
      config: { access: 'admin', action: 'webhook.create' },
      schema: {
        tags,
        summary: 'Register a webhook (the secret is shown once, in this response)',
        description:
          'Each event is POSTed as JSON with headers Hopmail-Event-Id, Hopmail-Event-Type and Hopmail-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>. ' +
          'Non-2xx or no answer within the timeout is retried with exponential backoff; the webhook is disabled after persistent failure.',
        body: { type: 'object', required: ['url', 'events'], additionalProperties: false, properties: { url, events, secret, description: text(500) } },
        response: {
          201: { ...webhook, required: [...webhook.required, 'secret'], properties: { ...webhook.properties, secret: { type: 'string' } } },
          ...errors(...bodyErrors),
        },
      },
    },
    async (req, reply) => {
      const s = req.body.secret ?? newSecret();
      const row = await webhooks.create({ url: checkUrl(req.body.url, webhookAllowPrivate), events: req.body.events, secret: s, description: req.body.description ?? '' });
      noteAudit(req, `webhook:${row.id}`);
      req.log.info({ event: EVENTS.webhookCreated, webhookId: row.id, events: row.events }, 'webhook created');
      return reply.code(201).send({ ...row, secret: s });
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/webhooks',
    { config: { access: 'read-global' }, schema: { tags, summary: 'List webhooks', querystring: listQuery, response: { 200: page(webhook), ...errors() } } },
    async (req) => pageOut(await webhooks.list(pageArgs(req.query, defaultLimit))),
  );

  app.get<{ Params: { id: string } }>(
    '/webhooks/:id',
    { config: { access: 'read-global' }, schema: { tags, summary: 'Show a webhook and its health', params: idParams, response: { 200: webhook, ...errors(404) } } },
    async (req) => {
      const row = await webhooks.get(req.params.id.toLowerCase());
      if (!row) throw notFound(`webhook ${req.params.id} does not exist`);
      return row;
    },
  );

  app.patch<{ Params: { id: string }; Body: { url?: string; events?: string[]; secret?: string; description?: string; enabled?: boolean } }>(
    '/webhooks/:id',
    {
      config: { access: 'admin', action: 'webhook.update' },
      schema: {
        tags,
        summary: 'Change a webhook; enabled=true re-enables one that was disabled and resets its failure count',
        params: idParams,
        body: { type: 'object', minProperties: 1, additionalProperties: false, properties: { url, events, secret, description: text(500), enabled: { type: 'boolean' } } },
        response: { 200: webhook, ...errors(404, ...bodyErrors) },
      },
    },
    async (req) => {
      const b = req.body;
      const row = await webhooks.update(req.params.id.toLowerCase(), { ...b, url: b.url === undefined ? undefined : checkUrl(b.url, webhookAllowPrivate) });
      if (!row) throw notFound(`webhook ${req.params.id} does not exist`);
      return row;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/webhooks/:id',
    { config: { access: 'admin', action: 'webhook.delete' }, schema: { tags, summary: 'Delete a webhook and its delivery log', params: idParams, response: { 204: noContent, ...errors(404) } } },
    async (req, reply) => {
      if (!(await webhooks.delete(req.params.id.toLowerCase()))) throw notFound(`webhook ${req.params.id} does not exist`);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: number; cursor?: string } }>(
    '/webhooks/:id/deliveries',
    {
      config: { access: 'read-global' },
      schema: { tags, summary: "A webhook's deliveries, newest first", params: idParams, querystring: listQuery, response: { 200: page(delivery), ...errors(404) } },
    },
    async (req) => {
      const id = req.params.id.toLowerCase();
      if (!(await webhooks.get(id))) throw notFound(`webhook ${req.params.id} does not exist`);
      return pageOut(await webhooks.deliveries(id, pageArgs(req.query, defaultLimit)));
    },
  );
}
