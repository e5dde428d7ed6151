// Transport security: the operator's per-destination TLS policy table (overrides MTA-STS and
// DANE discovery, as Postfix's smtp_tls_policy_maps does), the relay's TLS outcomes per
// destination (what TLS-RPT reports), and the TLS-RPT reports other servers sent us.
import type { FastifyInstance } from 'fastify';
import type { TlsPolicyKind } from '../../adapters/transport-security.ts';
import { notFound } from '../../errors.ts';
import { EVENTS } from '../../events.ts';
import { checkDomainName } from '../../policy/names.ts';
import { checkTlsPolicy } from '../../policy/tls-policy.ts';
import { bodyErrors, domainName, errors, listQuery, noContent, page, text, timestamp } from '../schemas.ts';
import { must, noteAudit, pageArgs, pageOut, requireDomain, type ApiDeps } from './context.ts';

const policyKind = {
  type: 'string',
  enum: ['none', 'may', 'encrypt', 'dane', 'verify'],
  description: 'none: plaintext; may: STARTTLS when offered; encrypt: TLS required, any certificate; dane: TLS required and TLSA must validate and match; verify: TLS required, certificate checked (caPem, fingerprints or the system roots)',
} as const;

const tlsPolicy = {
  type: 'object',
  required: ['domain', 'policy', 'caPem', 'fingerprints', 'note', 'createdAt', 'updatedAt'],
  additionalProperties: false,
  properties: {
    domain: domainName,
    policy: policyKind,
    caPem: { type: ['string', 'null'] },
    fingerprints: { type: 'array', items: { type: 'string' } },
    note: { type: 'string' },
    createdAt: timestamp,
    updatedAt: timestamp,
  },
} as const;

const outcome = {
  type: 'object',
  required: ['day', 'policyType', 'mxHost', 'receivingIp', 'resultType', 'count', 'detail'],
  additionalProperties: false,
  properties: {
    day: { type: 'string', format: 'date' },
    policyType: { type: 'string', enum: ['sts', 'tlsa', 'no-policy-found'] },
    mxHost: { type: 'string' },
    receivingIp: { type: 'string' },
    resultType: { type: 'string', description: "'' for successful sessions, else an RFC 8460 result type" },
    count: { type: 'integer' },
    detail: { type: ['string', 'null'] },
  },
} as const;

const received = {
  type: 'object',
  required: ['id', 'receivedAt', 'organization', 'reportId', 'policyDomain', 'startAt', 'endAt', 'successful', 'failed', 'report'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer' },
    receivedAt: timestamp,
    organization: { type: 'string' },
    reportId: { type: 'string' },
    policyDomain: { type: 'string' },
    startAt: timestamp,
    endAt: timestamp,
    successful: { type: 'integer' },
    failed: { type: 'integer' },
    report: { type: 'object', additionalProperties: true },
  },
} as const;

const domainParams = { type: 'object', required: ['domain'], additionalProperties: false, properties: { domain: domainName } } as const;
const tags = ['transport security'];

export function tlsRoutes(app: FastifyInstance, { tls, defaultLimit }: ApiDeps): void {
  app.put<{ Params: { domain: string }; Body: { policy: TlsPolicyKind; caPem?: string; fingerprints?: string[]; note?: string } }>(
    '/tls-policies/:domain',
    {
      config: { access: 'admin', action: 'tls-policy.put' },
      schema: {
        tags,
        summary: 'Set the TLS policy for a destination domain (admin)',
        description: 'Overrides MTA-STS and DANE discovery for mail to this domain. Creates (201) or replaces (200).',
        params: domainParams,
        body: {
          type: 'object',
          required: ['policy'],
          additionalProperties: false,
          properties: {
            policy: policyKind,
            caPem: { type: 'string', minLength: 1, maxLength: 65_536, description: 'verify only: PEM CA certificate(s) trusted instead of the system roots' },
            fingerprints: { type: 'array', maxItems: 16, items: text(95), description: 'verify only: SHA-256 certificate fingerprints accepted (pinning)' },
            note: { ...text(500), minLength: 0 },
          },
        },
        response: { 200: tlsPolicy, 201: tlsPolicy, ...errors(403, ...bodyErrors) },
      },
    },
    async (req, reply) => {
      const domain = must(checkDomainName('params.domain', req.params.domain));
      const checked = must(checkTlsPolicy(req.body));
      const { row, created } = await tls.putPolicy({ domain, policy: req.body.policy, ...checked, note: req.body.note ?? '' });
      noteAudit(req, domain, { policy: row.policy });
      req.log.info({ event: EVENTS.tlsPolicySet, domain, policy: row.policy }, 'TLS policy set');
      return reply.code(created ? 201 : 200).send(row);
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/tls-policies',
    { schema: { tags, summary: 'List the TLS policy table', querystring: listQuery(false), response: { 200: page(tlsPolicy), ...errors() } } },
    async (req) => pageOut(await tls.listPolicies(pageArgs(req.query, defaultLimit))),
  );

  app.get<{ Params: { domain: string } }>(
    '/tls-policies/:domain',
    { schema: { tags, summary: 'Show the TLS policy of a destination', params: domainParams, response: { 200: tlsPolicy, ...errors(404) } } },
    async (req) => {
      const domain = must(checkDomainName('params.domain', req.params.domain));
      const row = await tls.getPolicy(domain);
      if (!row) throw notFound(`no TLS policy for ${domain}`);
      return row;
    },
  );

  app.delete<{ Params: { domain: string } }>(
    '/tls-policies/:domain',
    {
      config: { access: 'admin', action: 'tls-policy.delete' },
      schema: { tags, summary: 'Remove a TLS policy: discovery (DANE, MTA-STS) applies again (admin)', params: domainParams, response: { 204: noContent, ...errors(403, 404) } },
    },
    async (req, reply) => {
      const domain = must(checkDomainName('params.domain', req.params.domain));
      if (!(await tls.deletePolicy(domain))) throw notFound(`no TLS policy for ${domain}`);
      req.log.info({ event: EVENTS.tlsPolicyDeleted, domain }, 'TLS policy removed');
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { domain: string }; Querystring: { days?: number } }>(
    '/tls-outcomes/:domain',
    {
      schema: {
        tags,
        summary: 'TLS outcomes of deliveries to a destination, per day, policy, MX and result (what TLS-RPT reports)',
        params: domainParams,
        querystring: { type: 'object', additionalProperties: false, properties: { days: { type: 'integer', minimum: 1, maximum: 366, default: 7 } } },
        response: { 200: { type: 'object', required: ['domain', 'items'], additionalProperties: false, properties: { domain: domainName, items: { type: 'array', items: outcome } } }, ...errors() },
      },
    },
    async (req) => {
      const domain = must(checkDomainName('params.domain', req.params.domain));
      return { domain, items: await tls.outcomes(domain, req.query.days ?? 7) };
    },
  );

  app.get<{ Params: { domain: string }; Querystring: { limit?: number } }>(
    '/domains/:domain/tls-reports',
    {
      schema: {
        tags,
        summary: 'TLS-RPT reports other servers sent about delivering to one of our domains',
        params: domainParams,
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 500 } } },
        response: { 200: { type: 'object', required: ['items'], additionalProperties: false, properties: { items: { type: 'array', items: received } } }, ...errors(403) },
      },
    },
    async (req) => {
      const domain = must(checkDomainName('params.domain', req.params.domain));
      requireDomain(req, domain);
      return { items: await tls.receivedReports(domain, req.query.limit ?? defaultLimit) };
    },
  );
}
