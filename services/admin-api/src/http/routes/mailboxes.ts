import type { FastifyInstance } from 'fastify';
import { badRequest, conflict, isForeignKeyViolation, isUniqueViolation, notFound } from '../../errors.ts';
import { checkAddress, checkDomainName } from '../../policy/names.ts';
import { address, bodyErrors, domainName, errors, listQuery, noContent, page, password, quotaBytes, timestamp } from '../schemas.ts';
import { must, pageArgs, pageOut, principalOf, requireDomain, type ApiDeps } from './context.ts';
import { domainLimit } from '../../policy/scope.ts';
import { EVENTS } from '../../events.ts';

const mailbox = {
  type: 'object',
  required: ['address', 'domain', 'quotaBytes', 'createdAt', 'updatedAt'],
  additionalProperties: false,
  properties: { address, domain: domainName, quotaBytes, createdAt: timestamp, updatedAt: timestamp },
} as const;

const mailboxDetail = {
  ...mailbox,
  required: [...mailbox.required, 'messageCount', 'sizeBytes'],
  properties: {
    ...mailbox.properties,
    messageCount: { type: 'integer', description: 'messages in the mailbox (rows of mailbox_messages)' },
    sizeBytes: { type: 'integer', description: 'their total size in bytes' },
  },
} as const;

const addressParams = { type: 'object', required: ['address'], additionalProperties: false, properties: { address } } as const;
const tags = ['mailboxes'];

export function mailboxRoutes(app: FastifyInstance, { store, hasher, defaultLimit }: ApiDeps): void {
  app.post<{ Body: { address: string; password: string; quotaBytes?: number } }>(
    '/mailboxes',
    {
      config: { action: 'mailbox.create' },
      schema: {
        tags,
        summary: 'Create a mailbox',
        description: "The domain must exist (else 409) and be of kind 'local' (else 400). The password is stored as an Argon2id hash and never returned.",
        body: { type: 'object', required: ['address', 'password'], additionalProperties: false, properties: { address, password, quotaBytes: { ...quotaBytes, default: 0 } } },
        response: { 201: mailbox, ...errors(403, 409, ...bodyErrors) },
      },
    },
    async (req, reply) => {
      const a = must(checkAddress('body.address', req.body.address));
      requireDomain(req, a.domain);
      const d = await store.findDomain(a.domain);
      if (!d) throw conflict(`domain ${a.domain} does not exist; create it first with POST /v1/domains`);
      if (d.kind !== 'local') throw badRequest(`domain ${a.domain} is a relay domain; mailboxes live only in local domains`);
      const hash = await hasher.hash(req.body.password);
      try {
        const row = await store.createMailbox(d.id, a.local, a.address, hash, req.body.quotaBytes ?? 0);
        req.log.info({ event: EVENTS.mailboxCreated, address: row.address }, 'mailbox created');
        return reply.code(201).send(row);
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(`mailbox ${a.address} already exists`);
        if (isForeignKeyViolation(err)) throw conflict(`domain ${a.domain} was deleted meanwhile`);
        throw err;
      }
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string; domain?: string } }>(
    '/mailboxes',
    { schema: { tags, summary: 'List mailboxes', querystring: listQuery(true), response: { 200: page(mailbox), ...errors(403) } } },
    async (req) => {
      const domain = req.query.domain === undefined ? undefined : must(checkDomainName('querystring.domain', req.query.domain));
      if (domain !== undefined) requireDomain(req, domain);
      return pageOut(await store.listMailboxes({ ...pageArgs(req.query, defaultLimit), domain, only: domainLimit(principalOf(req)) }));
    },
  );

  app.get<{ Params: { address: string } }>(
    '/mailboxes/:address',
    {
      schema: {
        tags,
        summary: 'Show a mailbox with its message count and size',
        params: addressParams,
        response: { 200: mailboxDetail, ...errors(403, 404) },
      },
    },
    async (req) => {
      const a = must(checkAddress('params.address', req.params.address));
      requireDomain(req, a.domain);
      const row = await store.getMailbox(a.address);
      if (!row) throw notFound(`mailbox ${a.address} does not exist`);
      return row;
    },
  );

  app.patch<{ Params: { address: string }; Body: { password?: string; quotaBytes?: number } }>(
    '/mailboxes/:address',
    {
      config: { action: 'mailbox.update' },
      schema: {
        tags,
        summary: 'Change the password and/or the quota of a mailbox',
        params: addressParams,
        body: { type: 'object', minProperties: 1, additionalProperties: false, properties: { password, quotaBytes } },
        response: { 200: mailbox, ...errors(403, 404, ...bodyErrors) },
      },
    },
    async (req) => {
      const a = must(checkAddress('params.address', req.params.address));
      requireDomain(req, a.domain);
      const passwordHash = req.body.password === undefined ? undefined : await hasher.hash(req.body.password);
      const row = await store.updateMailbox(a.address, { passwordHash, quotaBytes: req.body.quotaBytes });
      if (!row) throw notFound(`mailbox ${a.address} does not exist`);
      req.log.info({ event: EVENTS.mailboxUpdated, address: row.address, passwordChanged: passwordHash !== undefined, quotaChanged: req.body.quotaBytes !== undefined }, 'mailbox updated');
      return row;
    },
  );

  app.delete<{ Params: { address: string } }>(
    '/mailboxes/:address',
    {
      config: { action: 'mailbox.delete' },
      schema: {
        tags,
        summary: 'Delete a mailbox and the mail in it',
        params: addressParams,
        response: { 204: noContent, ...errors(403, 404) },
      },
    },
    async (req, reply) => {
      const a = must(checkAddress('params.address', req.params.address));
      requireDomain(req, a.domain);
      if (!(await store.deleteMailbox(a.address, principalOf(req).actor))) throw notFound(`mailbox ${a.address} does not exist`);
      req.log.info({ event: EVENTS.mailboxDeleted, address: a.address }, 'mailbox deleted');
      return reply.code(204).send();
    },
  );
}
