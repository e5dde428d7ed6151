import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { withTimeout } from '@hopmail/service-kit';
import type { AbuseListStore } from '../../adapters/abuse-lists.ts';
import type { AbuseStatsReport } from '../../adapters/abuse-stats.ts';
import { ApiError, badRequest, conflict, isUniqueViolation, notFound } from '../../errors.ts';
import { EVENTS } from '../../events.ts';
import { checkDomainName } from '../../policy/names.ts';
import { address, bodyErrors, errors, noContent, page, text, timestamp } from '../schemas.ts';
import { must, noteAudit, pageArgs, pageOut, principalOf } from './context.ts';

const counts = { type: 'object', additionalProperties: { type: 'integer' }, description: '"<stage>:<reason>" → refusals (stage connect, mail, rcpt, data, auth, protocol)' } as const;

const tags = ['abuse'];
const pageLimit = { type: 'integer', minimum: 1, maximum: 500, description: 'page size (1 to 500)' } as const;
const cursor = { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$', description: 'opaque; the nextCursor of the previous page' } as const;
const listName = { type: 'string', enum: ['allow', 'block'], description: 'allow: skips DNSBL, greylisting and the per-client limits (a sender domain: greylisting only, with SPF pass); block: 554 5.7.1 at RCPT' } as const;
const entry = {
  type: 'object',
  required: ['id', 'list', 'kind', 'value', 'reason', 'createdAt', 'createdBy'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer' },
    list: listName,
    kind: { type: 'string', enum: ['network', 'domain'] },
    value: { type: 'string', description: 'CIDR network (an address is a /32 or /128) or a domain (covering its subdomains)' },
    reason: { type: 'string', description: "shown to a blocked client in the 554 reply" },
    createdAt: timestamp,
    createdBy: { type: ['string', 'null'] },
  },
} as const;
const refusal = {
  type: 'object',
  required: ['id', 'at', 'sessionId', 'clientIp', 'helo', 'sender', 'recipient', 'stage', 'reason', 'reply'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer' },
    at: timestamp,
    sessionId: { type: 'string' },
    clientIp: { type: 'string' },
    helo: { type: ['string', 'null'] },
    sender: { type: 'string', description: "envelope sender; '' is the null sender <>" },
    recipient: { type: 'string' },
    stage: { type: 'string', enum: ['rcpt', 'data'] },
    reason: { type: 'string', description: 'as in hopmail_smtp_rejections_total: greylisted, dnsbl, blocklist-client, blocklist-sender, unknown-user, spam…' },
    reply: { type: 'string', description: 'the SMTP reply the client got' },
  },
} as const;

/** An address or CIDR network as `cidr` input, a domain name, or a 400 naming the problem. */
export function listValue(input: string): { network: string | null; domain: string | null } {
  const [addr = '', bits, extra] = input.split('/');
  const family = isIP(addr);
  if (family) {
    const max = family === 4 ? 32 : 128;
    if (extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) throw badRequest(`body.value ${input}: the prefix length must be 0 to ${max}`);
    return { network: input, domain: null };
  }
  if (/^[0-9.:/]+$/.test(input) || input.includes('/')) throw badRequest(`body.value ${input} is neither an IPv4/IPv6 address or CIDR network nor a domain name`);
  return { network: null, domain: must(checkDomainName('body.value', input.replace(/\.$/, ''))) };
}

/** GET /v1/abuse/stats, the allowlist and blocklist (/v1/abuse/lists) and the refused attempts (/v1/messages/refusals). */
export function abuseRoutes(app: FastifyInstance, { stats, lists, defaultLimit }: { stats: ((now: number) => Promise<AbuseStatsReport>) | null; lists: AbuseListStore; defaultLimit: number }): void {
  app.get(
    '/abuse/stats',
    {
      schema: {
        tags: ['abuse'],
        summary: 'Refusals by stage and reason over the last hour and day',
        description: 'Counted by every smtp-ingress replica in Redis (5-minute buckets): DNSBL, greylisting, rate limits, spam, unknown recipients, protocol errors… 503 when Redis is unreachable.',
        response: {
          200: { type: 'object', required: ['lastHour', 'lastDay'], additionalProperties: false, properties: { lastHour: counts, lastDay: counts } },
          ...errors(),
        },
      },
    },
    async () => {
      if (!stats) throw new ApiError('unavailable', 'abuse statistics are not available');
      try {
        return await withTimeout(stats(Date.now()), 2000, 'abuse statistics (Redis)');
      } catch (err) {
        throw new ApiError('unavailable', 'abuse statistics unavailable: Redis did not answer', err);
      }
    },
  );

  app.get<{ Querystring: { list?: 'allow' | 'block'; limit?: number; cursor?: string } }>(
    '/abuse/lists',
    {
      config: { access: 'read-global' },
      schema: {
        tags,
        summary: 'The allowlist and blocklist of client networks and sender domains',
        description: 'Every smtp-ingress replica applies them within ABUSE_LISTS_REFRESH_MS of a change.',
        querystring: { type: 'object', additionalProperties: false, properties: { list: listName, limit: pageLimit, cursor } },
        response: { 200: page(entry), ...errors() },
      },
    },
    async (req) => {
      const p = pageArgs(req.query, defaultLimit);
      return pageOut(await lists.list(req.query.list, { limit: p.limit, after: cursorId(p.after) }));
    },
  );

  app.post<{ Body: { list: 'allow' | 'block'; value: string; reason?: string } }>(
    '/abuse/lists',
    {
      config: { access: 'admin', action: 'abuse-list.add' },
      schema: {
        tags,
        summary: 'Put a client address or network (CIDR, IPv4 or IPv6) or a sender domain on the allowlist or blocklist',
        description:
          'An address or network on the allowlist skips DNSBL, greylisting and the per-client limits, and wins over a blocklist entry covering it. A blocked client or sender ' +
          'domain (or subdomain) gets 554 5.7.1 at RCPT with the reason. An allowlisted sender domain skips greylisting when SPF passes. A network or domain can be on one list once: 409.',
        body: {
          type: 'object',
          required: ['list', 'value'],
          additionalProperties: false,
          properties: {
            list: listName,
            value: text(253, { minLength: 1, description: 'IPv4/IPv6 address, CIDR network (host bits zero) or domain name', examples: ['192.0.2.7', '198.51.100.0/24', '2001:db8::/32', 'spam.example'] }),
            reason: { type: 'string', maxLength: 200, pattern: '^[\\x20-\\x7e]*$', description: 'printable ASCII, up to 200 characters; a blocked client reads it in the reply' },
          },
        },
        response: { 201: entry, ...errors(409, ...bodyErrors) },
      },
    },
    async (req, reply) => {
      const v = listValue(req.body.value.trim());
      const existing = await lists.find(v.network, v.domain).catch(badNetwork(req.body.value));
      if (existing) throw conflict(`${existing.value} is already on the ${existing.list}list (entry ${existing.id}); remove it first`);
      let row;
      try {
        row = await lists.add({ list: req.body.list, ...v, reason: req.body.reason ?? '', createdBy: principalOf(req).actor });
      } catch (err) {
        if (isUniqueViolation(err)) throw conflict(`${req.body.value} is already listed`);
        throw badNetwork(req.body.value)(err);
      }
      noteAudit(req, `abuse-list:${row.id}`, { list: row.list, value: row.value });
      req.log.info({ event: EVENTS.abuseListChanged, action: 'add', list: row.list, value: row.value }, 'abuse list entry added');
      return reply.code(201).send(row);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/abuse/lists/:id',
    {
      config: { access: 'admin', action: 'abuse-list.remove' },
      schema: {
        tags,
        summary: 'Remove an entry from the allowlist or blocklist',
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,15}$', description: 'entry id' } } },
        response: { 204: noContent, ...errors(404) },
      },
    },
    async (req, reply) => {
      const row = await lists.remove(Number(req.params.id));
      if (!row) throw notFound(`abuse list entry ${req.params.id} does not exist`);
      noteAudit(req, `abuse-list:${row.id}`, { list: row.list, value: row.value });
      req.log.info({ event: EVENTS.abuseListChanged, action: 'remove', list: row.list, value: row.value }, 'abuse list entry removed');
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { recipient?: string; sender?: string; clientIp?: string; since?: string; limit?: number; cursor?: string } }>(
    '/messages/refusals',
    {
      config: { access: 'read-global' },
      schema: {
        tags: ['messages', ...tags],
        summary: "Attempts smtp-ingress refused or greylisted after a recipient was named: why mail didn't arrive",
        description:
          'One row per recipient of every refused or greylisted RCPT (blocklist, DNSBL, greylisting, unknown user, rate limits…) and of every message refused at the end of DATA ' +
          '(spam, DMARC…), with the reply the client got; newest first. Such attempts never became messages, so GET /v1/messages does not list them.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            recipient: address,
            sender: text(254, { description: "envelope sender; '<>' for the null sender" }),
            clientIp: text(45, { description: 'client address' }),
            since: { ...timestamp, description: 'at or after' },
            limit: pageLimit,
            cursor,
          },
        },
        response: { 200: page(refusal), ...errors() },
      },
    },
    async (req) => {
      const q = req.query;
      if (q.clientIp !== undefined && !isIP(q.clientIp)) throw badRequest('querystring.clientIp is not an IPv4 or IPv6 address');
      const p = pageArgs(q, defaultLimit);
      return pageOut(await lists.refusals({ recipient: q.recipient, sender: q.sender, clientIp: q.clientIp, since: q.since }, { limit: p.limit, before: cursorId(p.after) }));
    },
  );
}

/** The row id a cursor of ours carries. */
function cursorId(after: string | null): number | null {
  if (after === null) return null;
  const id = Number(after);
  if (!Number.isSafeInteger(id)) throw new ApiError('invalidCursor', 'querystring.cursor is not a cursor this server issued');
  return id;
}

/** PostgreSQL refused the network (host bits set): a 400 that says so. */
const badNetwork = (value: string) => (err: unknown): never => {
  if ((err as { code?: unknown } | null)?.code === '22P02') throw badRequest(`body.value ${value} is not a network: the bits after the prefix length must be zero (e.g. 10.0.0.0/8, not 10.1.2.3/8)`);
  throw err;
};
