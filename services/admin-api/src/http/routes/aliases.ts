import type { FastifyInstance } from 'fastify';
import { badRequest, conflict, isForeignKeyViolation, isUniqueViolation, notFound } from '../../errors.ts';
import { checkAliasSource, checkAliasTargets, checkDomainName } from '../../policy/names.ts';
import { aliasSource, aliasTarget, bodyErrors, domainName, errors, listQuery, noContent, page, timestamp } from '../schemas.ts';
import { must, pageArgs, pageOut, principalOf, requireDomain, type ApiDeps } from './context.ts';
import { domainLimit } from '../../policy/scope.ts';
import { EVENTS } from '../../events.ts';

export const MAX_TARGETS = 100;

const targets = { type: 'array', minItems: 1, maxItems: MAX_TARGETS, items: aliasTarget } as const;

const alias = {
  type: 'object',
  required: ['source', 'domain', 'targets', 'createdAt'],
  additionalProperties: false,
  properties: { source: aliasSource, domain: domainName, targets, createdAt: timestamp },
} as const;

const sourceParams = { type: 'object', required: ['source'], additionalProperties: false, properties: { source: aliasSource } } as const;
const tags = ['aliases'];

export function aliasRoutes(app: FastifyInstance, { store, defaultLimit }: ApiDeps): void {
  app.post<{ Body: { source: string; targets: string[] } }>(
    '/aliases',
    {
      config: { action: 'alias.create' },
      schema: {
        tags,
        summary: 'Create an alias',
        description:
          "source is 'local@domain' or '@domain' (catch-all) in an existing local domain. An alias may share its address with a mailbox: the alias wins " +
          '(add the mailbox address to the targets to keep a copy). Loops are not refused here; routing detects them at delivery.',
        body: { type: 'object', required: ['source', 'targets'], additionalProperties: false, properties: { source: aliasSource, targets } },
        response: { 201: alias, ...errors(403, 409, ...bodyErrors) },
      },
    },
    async (req, reply) => {
      const s = must(checkAliasSource('body.source', req.body.source));
      requireDomain(req, s.domain);
      const t = must(checkAliasTargets('body.targets', req.body.targets));
      const d = await store.findDomain(s.domain);
      if (!d) throw conflict(`domain ${s.domain} does not exist; create it first with POST /v1/domains`);
      if (d.kind !== 'local') throw badRequest(`domain ${s.domain} is a relay domain; alias sources must be in a local domain`);
      try {
        const row = await store.createAlias(d.id, s.source, t);
        req.log.info({ event: EVENTS.aliasCreated, source: row.source, targets: row.targets.length }, 'alias created');
        return reply.code(201).send(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(`alias ${s.source} already exists`);
        if (isForeignKeyViolation(err)) throw conflict(`domain ${s.domain} was deleted meanwhile`);
        throw err;
      }
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string; domain?: string } }>(
    '/aliases',
    { schema: { tags, summary: 'List aliases', querystring: listQuery(true), response: { 200: page(alias), ...errors(403) } } },
    async (req) => {
      const domain = req.query.domain === undefined ? undefined : must(checkDomainName('querystring.domain', req.query.domain));
      if (domain !== undefined) requireDomain(req, domain);
      return pageOut(await store.listAliases({ ...pageArgs(req.query, defaultLimit), domain, only: domainLimit(principalOf(req)) }));
    },
  );

  app.get<{ Params: { source: string } }>(
    '/aliases/:source',
    { schema: { tags, summary: 'Show an alias', params: sourceParams, response: { 200: alias, ...errors(403, 404) } } },
    async (req) => {
      const s = must(checkAliasSource('params.source', req.params.source));
      requireDomain(req, s.domain);
      const row = await store.getAlias(s.source);
      if (!row) throw notFound(`alias ${s.source} does not exist`);
      return row;
    },
  );

  app.patch<{ Params: { source: string }; Body: { targets: string[] } }>(
    '/aliases/:source',
    {
      config: { action: 'alias.update' },
      schema: {
        tags,
        summary: "Replace an alias's targets",
        params: sourceParams,
        body: { type: 'object', required: ['targets'], additionalProperties: false, properties: { targets } },
        response: { 200: alias, ...errors(403, 404, ...bodyErrors) },
      },
    },
    async (req) => {
      const s = must(checkAliasSource('params.source', req.params.source));
      requireDomain(req, s.domain);
      const t = must(checkAliasTargets('body.targets', req.body.targets));
      const row = await store.updateAliasTargets(s.source, t);
      if (!row) throw notFound(`alias ${s.source} does not exist`);
      req.log.info({ event: EVENTS.aliasUpdated, source: row.source, targets: row.targets.length }, 'alias updated');
      return row;
    },
  );

  app.delete<{ Params: { source: string } }>(
    '/aliases/:source',
    { config: { action: 'alias.delete' }, schema: { tags, summary: 'Delete an alias', params: sourceParams, response: { 204: noContent, ...errors(403, 404) } } },
    async (req, reply) => {
      const s = must(checkAliasSource('params.source', req.params.source));
      requireDomain(req, s.domain);
      if (!(await store.deleteAlias(s.source))) throw notFound(`alias ${s.source} does not exist`);
      req.log.info({ event: EVENTS.aliasDeleted, source: s.source }, 'alias deleted');
      return reply.code(204).send();
    },
  );
}
