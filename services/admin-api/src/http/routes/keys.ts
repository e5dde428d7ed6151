import type { FastifyInstance } from 'fastify';
import { badRequest, notFound } from '../../errors.ts';
import { checkDomainName } from '../../policy/names.ts';
import { SCOPES, type Scope } from '../../policy/scope.ts';
import { bodyErrors, domainName, errors, noContent, page, text, timestamp } from '../schemas.ts';
import { must, noteAudit, pageArgs, pageOut, principalOf, type ApiDeps } from './context.ts';
import { uuid } from './messages.ts';
import { EVENTS } from '../../events.ts';

const tags = ['keys'];
const scope = { type: 'string', enum: [...SCOPES], description: 'admin: everything; read-only: every GET; domain-admin: mailboxes, aliases, messages and queue of the listed domains' } as const;

const key = {
  type: 'object',
  required: ['id', 'name', 'prefix', 'scope', 'domains', 'createdBy', 'createdAt', 'lastUsedAt', 'revokedAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    prefix: { type: 'string', description: 'first characters of the key, to recognise it' },
    scope,
    domains: { type: 'array', items: { type: 'string' } },
    createdBy: { type: 'string' },
    createdAt: timestamp,
    lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

const idParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { ...uuid, description: 'key id' } } } as const;

export function keyRoutes(app: FastifyInstance, { keys, defaultLimit }: ApiDeps): void {
  app.post<{ Body: { name: string; scope: Scope; domains?: string[] } }>(
    '/keys',
    {
      config: { access: 'admin', action: 'key.create' },
      schema: {
        tags,
        summary: 'Create an API key (the key is shown once, in this response)',
        description: 'Only the SHA-256 of the key is stored. domain-admin keys need at least one domain; other scopes take none.',
        body: {
          type: 'object',
          required: ['name', 'scope'],
          additionalProperties: false,
          properties: { name: text(100), scope, domains: { type: 'array', maxItems: 1000, uniqueItems: true, items: domainName } },
        },
        response: {
          201: { ...key, required: [...key.required, 'key'], properties: { ...key.properties, key: { type: 'string', description: 'the bearer token; not retrievable later' } } },
          ...errors(...bodyErrors),
        },
      },
    },
    async (req, reply) => {
      const domains = (req.body.domains ?? []).map((d, i) => must(checkDomainName(`body.domains[${i}]`, d)));
      if (req.body.scope === 'domain-admin' && domains.length === 0) throw badRequest('body.domains must list at least one domain for a domain-admin key');
      if (req.body.scope !== 'domain-admin' && domains.length > 0) throw badRequest(`body.domains is only for domain-admin keys`);
      const { row, key: secret } = await keys.create(req.body.name, req.body.scope, domains, principalOf(req).actor);
      noteAudit(req, `key:${row.id}`, { scope: row.scope, domains: row.domains });
      req.log.info({ event: EVENTS.keyCreated, keyId: row.id, scope: row.scope }, 'API key created');
      return reply.code(201).send({ ...row, key: secret });
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/keys',
    {
      config: { access: 'admin' },
      schema: {
        tags,
        summary: 'List API keys (never the keys themselves)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 500 }, cursor: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$' } },
        },
        response: { 200: page(key), ...errors() },
      },
    },
    async (req) => pageOut(await keys.list(pageArgs(req.query, defaultLimit))),
  );

  app.get<{ Params: { id: string } }>(
    '/keys/:id',
    { config: { access: 'admin' }, schema: { tags, summary: 'Show an API key', params: idParams, response: { 200: key, ...errors(404) } } },
    async (req) => {
      const row = await keys.get(req.params.id.toLowerCase());
      if (!row) throw notFound(`key ${req.params.id} does not exist`);
      return row;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/keys/:id',
    {
      config: { access: 'admin', action: 'key.revoke' },
      schema: { tags, summary: 'Revoke an API key (it stops working at once; revoking again is harmless)', params: idParams, response: { 204: noContent, ...errors(404) } },
    },
    async (req, reply) => {
      if (!(await keys.revoke(req.params.id.toLowerCase()))) throw notFound(`key ${req.params.id} does not exist`);
      req.log.info({ event: EVENTS.keyRevoked, keyId: req.params.id }, 'API key revoked');
      return reply.code(204).send();
    },
  );
}
