import type { FastifyInstance } from 'fastify';
import type { DomainKind } from '../../adapters/store.ts';
import { conflict, isUniqueViolation, notFound } from '../../errors.ts';
import { checkDomainName } from '../../policy/names.ts';
import { bodyErrors, domainName, errors, listQuery, noContent, page, timestamp } from '../schemas.ts';
import { must, pageArgs, pageOut, principalOf, requireDomain, type ApiDeps } from './context.ts';
import { domainLimit } from '../../policy/scope.ts';
import { EVENTS } from '../../events.ts';

const kind = { type: 'string', enum: ['local', 'relay'], description: "'local' has mailboxes; 'relay' is accepted and forwarded out" } as const;

const inboundDmarcEnforce = {
  type: ['boolean', 'null'],
  description: "mail TO this domain failing its author's DMARC p=reject is refused (550 5.7.1) and p=quarantine marked X-Spam-Flag: YES; false: only marked; null: the cluster default (smtp-ingress INBOUND_DMARC_ENFORCE)",
} as const;
const inboundSpfReject = {
  type: ['boolean', 'null'],
  description: 'mail TO this domain whose SPF result is fail is refused (550 5.7.23) even when DMARC would accept it; null: the cluster default (smtp-ingress INBOUND_SPF_REJECT)',
} as const;

const domain = {
  type: 'object',
  required: ['name', 'kind', 'createdAt', 'inboundDmarcEnforce', 'inboundSpfReject'],
  additionalProperties: false,
  properties: { name: domainName, kind, createdAt: timestamp, inboundDmarcEnforce, inboundSpfReject },
} as const;

const domainDetail = {
  ...domain,
  required: [...domain.required, 'mailboxCount', 'aliasCount'],
  properties: { ...domain.properties, mailboxCount: { type: 'integer' }, aliasCount: { type: 'integer' } },
} as const;

const nameParams = { type: 'object', required: ['name'], additionalProperties: false, properties: { name: domainName } } as const;
const tags = ['domains'];

export function domainRoutes(app: FastifyInstance, { store, defaultLimit }: ApiDeps): void {
  app.post<{ Body: { name: string; kind?: DomainKind } }>(
    '/domains',
    {
      config: { access: 'admin', action: 'domain.create' },
      schema: {
        tags,
        summary: 'Create a domain (admin)',
        body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: domainName, kind: { ...kind, default: 'local' } } },
        response: { 201: domain, ...errors(403, 409, ...bodyErrors) },
      },
    },
    async (req, reply) => {
      const name = must(checkDomainName('body.name', req.body.name));
      try {
        const row = await store.createDomain(name, req.body.kind ?? 'local');
        req.log.info({ event: EVENTS.domainCreated, domain: name, kind: row.kind }, 'domain created');
        return reply.code(201).send(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(`domain ${name} already exists`);
        throw err;
      }
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/domains',
    { schema: { tags, summary: 'List domains', querystring: listQuery(false), response: { 200: page(domain), ...errors() } } },
    async (req) => pageOut(await store.listDomains({ ...pageArgs(req.query, defaultLimit), only: domainLimit(principalOf(req)) })),
  );

  app.get<{ Params: { name: string } }>(
    '/domains/:name',
    { schema: { tags, summary: 'Show a domain with its mailbox and alias counts', params: nameParams, response: { 200: domainDetail, ...errors(403, 404) } } },
    async (req) => {
      const name = must(checkDomainName('params.name', req.params.name));
      requireDomain(req, name);
      const row = await store.getDomain(name);
      if (!row) throw notFound(`domain ${name} does not exist`);
      return row;
    },
  );

  app.patch<{ Params: { name: string }; Body: { inboundDmarcEnforce?: boolean | null; inboundSpfReject?: boolean | null } }>(
    '/domains/:name',
    {
      config: { access: 'admin', action: 'domain.update' },
      schema: {
        tags,
        summary: "Set a domain's inbound authentication policy (admin)",
        description: 'Fields left out are unchanged; null returns a field to the cluster default. Takes effect at smtp-ingress within DIRECTORY_CACHE_MS.',
        params: nameParams,
        body: { type: 'object', minProperties: 1, additionalProperties: false, properties: { inboundDmarcEnforce, inboundSpfReject } },
        response: { 200: domain, ...errors(403, 404, ...bodyErrors) },
      },
    },
    async (req) => {
      const name = must(checkDomainName('params.name', req.params.name));
      const row = await store.updateDomainInbound(name, req.body);
      if (!row) throw notFound(`domain ${name} does not exist`);
      req.log.info({ event: EVENTS.domainUpdated, domain: row.name, inboundDmarcEnforce: row.inboundDmarcEnforce, inboundSpfReject: row.inboundSpfReject }, 'domain updated');
      return row;
    },
  );

  app.delete<{ Params: { name: string }; Querystring: { cascade?: boolean } }>(
    '/domains/:name',
    {
      config: { access: 'admin', action: 'domain.delete' },
      schema: {
        tags,
        summary: 'Delete a domain (admin)',
        description: 'Refused with 409 while the domain has mailboxes or aliases, unless ?cascade=true, which deletes them (and the mail in those mailboxes) too.',
        params: nameParams,
        querystring: { type: 'object', additionalProperties: false, properties: { cascade: { type: 'boolean', default: false } } },
        response: { 204: noContent, ...errors(403, 404, 409) },
      },
    },
    async (req, reply) => {
      const name = must(checkDomainName('params.name', req.params.name));
      const cascade = req.query.cascade === true;
      const r = await store.deleteDomain(name, cascade, principalOf(req).actor);
      if (r === 'missing') throw notFound(`domain ${name} does not exist`);
      if (r !== 'deleted') throw conflict(`domain ${name} still has ${r.mailboxes} mailbox(es) and ${r.aliases} alias(es); delete them first or pass ?cascade=true`);
      req.log.info({ event: EVENTS.domainDeleted, domain: name, cascade }, 'domain deleted');
      return reply.code(204).send();
    },
  );
}
