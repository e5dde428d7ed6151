import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { QueueAction } from '../../adapters/queue.ts';
import { domainLimit, coversDomain } from '../../policy/scope.ts';
import { RECIPIENT_STATUSES, type QueueFilter, type RecipientStatus } from '../../policy/queue-filter.ts';
import { checkDomainName } from '../../policy/names.ts';
import { ApiError, forbidden } from '../../errors.ts';
import { EVENTS } from '../../events.ts';
import { address, bodyErrors, domainName, errors, page, text, timestamp } from '../schemas.ts';
import { must, noteAudit, pageArgs, pageOut, principalOf, type ApiDeps } from './context.ts';
import { uuid } from './messages.ts';

const tags = ['queue'];
const statusList = RECIPIENT_STATUSES.join('|');

const filterProps = {
  domain: { ...domainName, description: 'destination (recipient) domain' },
  sender: text(254, { description: "envelope sender; '<>' for the null sender, '@example.org' for a whole sender domain" }),
  recipient: address,
  messageId: { ...uuid, description: 'one message (queue id)' },
  minAgeSeconds: { type: 'integer', minimum: 0, maximum: 10 * 365 * 86400, description: 'received at least this long ago' },
  maxAgeSeconds: { type: 'integer', minimum: 0, maximum: 10 * 365 * 86400, description: 'received at most this long ago' },
  reply: text(200, { description: 'substring of the last remote reply, case-insensitive' }),
} as const;

const bodyFilter = {
  type: 'object',
  minProperties: 1,
  additionalProperties: false,
  description: 'which recipients; at least one condition (an empty filter would touch the whole queue)',
  properties: { status: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...RECIPIENT_STATUSES] } }, ...filterProps },
} as const;

const queryFilter = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', pattern: `^(${statusList})(,(${statusList}))*$`, description: 'comma-separated statuses (default deferred,held,relay,failed,bounced)' },
    ...filterProps,
    limit: { type: 'integer', minimum: 1, maximum: 500, description: 'page size (1 to 500)' },
    cursor: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$', description: 'opaque; the nextCursor of the previous page' },
  },
} as const;

const { limit: _l, cursor: _c, ...countProps } = queryFilter.properties;
const countQuery = { ...queryFilter, properties: countProps } as const;

const recipient = {
  type: 'object',
  required: ['id', 'messageId', 'address', 'domain', 'status', 'attempts', 'nextAttemptAt', 'lastReply', 'lastMx', 'sender', 'receivedAt', 'size', 'updatedAt'],
  additionalProperties: false,
  properties: {
    id: { type: 'integer' },
    messageId: uuid,
    address: { type: 'string' },
    domain: { type: 'string' },
    status: { type: 'string', enum: [...RECIPIENT_STATUSES] },
    attempts: { type: 'integer' },
    nextAttemptAt: { type: ['string', 'null'], format: 'date-time' },
    lastReply: { type: ['string', 'null'] },
    lastMx: { type: ['string', 'null'] },
    sender: { type: 'string' },
    receivedAt: timestamp,
    size: { type: 'integer' },
    updatedAt: timestamp,
  },
} as const;

const actionResult = {
  type: 'object',
  required: ['action', 'matched', 'changed', 'jobs', 'nextCursor'],
  additionalProperties: false,
  properties: {
    action: { type: 'string', enum: ['retry', 'hold', 'release', 'delete'] },
    matched: { type: 'integer', description: 'recipients matching the filter in a state the action applies to' },
    changed: { type: 'integer', description: 'recipients this call changed (0 when repeated)' },
    jobs: { type: 'integer', description: 'deliver-remote (and, for release, route-message) jobs added or revived' },
    nextCursor: { type: ['string', 'null'], description: 'set when maxRows stopped the walk: pass back as cursor to continue' },
  },
} as const;

type Filter = Omit<QueueFilter, 'status'> & { status?: string | RecipientStatus[] };
const DEFAULT_LIST: RecipientStatus[] = ['deferred', 'held', 'relay', 'failed', 'bounced'];

function toFilter(req: FastifyRequest, f: Filter, defaults: RecipientStatus[] | undefined): QueueFilter {
  const status = typeof f.status === 'string' ? (f.status.split(',') as RecipientStatus[]) : (f.status ?? defaults);
  if (f.domain !== undefined) {
    const d = must(checkDomainName('filter.domain', f.domain));
    if (!coversDomain(principalOf(req), d)) throw forbidden(`this key is not allowed to access domain ${d}`);
  }
  return {
    status,
    domain: f.domain,
    sender: f.sender,
    recipient: f.recipient,
    messageId: f.messageId?.toLowerCase(),
    minAgeSeconds: f.minAgeSeconds,
    maxAgeSeconds: f.maxAgeSeconds,
    reply: f.reply,
  };
}

const ACTION_EVENTS = { retry: EVENTS.queueRetry, hold: EVENTS.queueHold, release: EVENTS.queueRelease, delete: EVENTS.queueDelete } as const satisfies Record<QueueAction, string>;

export function queueRoutes(app: FastifyInstance, { queue, jobs, defaultLimit, bulkBatch }: ApiDeps): void {

  app.get<{ Querystring: Filter & { limit?: number; cursor?: string } }>(
    '/queue/recipients',
    {
      schema: {
        tags,
        summary: 'List recipients in the queue with their next attempt and last reply',
        description: 'Oldest first. Without ?status=, lists deferred, held, relay (waiting for the relay), failed and bounced recipients.',
        querystring: queryFilter,
        response: { 200: page(recipient), ...errors() },
      },
    },
    async (req) => pageOut(await queue.list(toFilter(req, req.query, DEFAULT_LIST), domainLimit(principalOf(req)), pageArgs(req.query, defaultLimit))),
  );

  app.get<{ Querystring: Filter }>(
    '/queue/count',
    {
      schema: {
        tags,
        summary: 'How many recipients match a filter',
        querystring: countQuery,
        response: { 200: { type: 'object', required: ['count'], additionalProperties: false, properties: { count: { type: 'integer' } } }, ...errors() },
      },
    },
    async (req) => ({ count: await queue.count(toFilter(req, req.query, DEFAULT_LIST), domainLimit(principalOf(req))) }),
  );

  const describe: Record<QueueAction, string> = {
    retry: 'Retry now: deferred and relay recipients get next attempt = now and a deliver-remote job right away.',
    hold: 'Hold: relay and deferred recipients become held; nothing delivers them until released (they still age towards expiry).',
    release: 'Release: held recipients go back to relay/deferred with next attempt = now and a deliver-remote job; recipients held before routing (outgoing spam held at submission) go back to routing, so local ones reach their mailbox.',
    delete: 'Delete: queued, relay, deferred and held recipients are given up, with a DSN to the sender (dsn: true, sent by the outbound relay) or without (status failed).',
  };
  for (const action of ['retry', 'hold', 'release', 'delete'] as const) {
    app.post<{ Body: { filter: Filter; dsn?: boolean; maxRows?: number; cursor?: string } }>(
      `/queue/${action}`,
      {
        config: { action: `queue.${action}` },
        schema: {
          tags,
          summary: describe[action].split(':')[0],
          description: `${describe[action]} Safe to repeat: rows already in the target state are not touched again, and the counts say what this call did.`,
          body: {
            type: 'object',
            required: ['filter'],
            additionalProperties: false,
            properties: {
              filter: bodyFilter,
              ...(action === 'delete' ? { dsn: { type: 'boolean', default: false, description: 'send a DSN to the sender' } } : {}),
              maxRows: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'stop after this many rows and return nextCursor (progress reporting); default: all' },
              cursor: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$', description: 'continue a walk that maxRows stopped' },
            },
          },
          response: { 200: actionResult, ...errors(...bodyErrors) },
        },
      },
      async (req) => {
        const p = principalOf(req);
        const filter = toFilter(req, req.body.filter, undefined);
        const { after } = pageArgs({ cursor: req.body.cursor }, 1);
        const r = await queue.apply(action, filter, domainLimit(p), { actor: p.actor, dsn: req.body.dsn === true, batch: bulkBatch, after, maxRows: req.body.maxRows ?? null });
        // PostgreSQL already says "due now": if Redis fails here, the relay's scheduler still
        // picks the rows up on its next scan.
        const woken = await jobs.wake(r.wake);
        if (woken.error) req.log.warn({ event: EVENTS.queueWakeFailed, err: woken.error, pending: woken.pending }, 'could not add deliver-remote jobs; the relay scheduler will pick the rows up');
        // Released rows that were never routed (held at submission): routing's reconciler
        // also finds them when Redis fails here.
        const routed = r.route.length ? await jobs.route(r.route) : { jobs: 0, error: null, pending: 0 };
        if (routed.error) req.log.warn({ event: EVENTS.queueWakeFailed, err: routed.error, pending: routed.pending }, 'could not add route-message jobs; the routing reconciler will pick the rows up');
        const added = woken.jobs + routed.jobs;
        noteAudit(req, undefined, { matched: r.matched, changed: r.changed, jobs: added });
        req.log.info({ event: ACTION_EVENTS[action], actor: p.actor, matched: r.matched, changed: r.changed, jobs: added }, `queue ${action}`);
        return { action, matched: r.matched, changed: r.changed, jobs: added, nextCursor: pageOut({ items: [], nextKey: r.nextKey }).nextCursor };
      },
    );
  }

  const counts = {
    type: 'object',
    required: ['count', 'oldestAgeSeconds'],
    additionalProperties: false,
    properties: { count: { type: 'integer' }, oldestAgeSeconds: { type: 'integer' } },
  } as const;

  app.get(
    '/queue/stats',
    {
      config: { access: 'read-global' },
      schema: {
        tags,
        summary: 'Depth and oldest item of each BullMQ queue, and unfinished recipients in PostgreSQL by status',
        response: {
          200: {
            type: 'object',
            required: ['queues', 'recipients'],
            additionalProperties: false,
            properties: {
              queues: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['name', 'waiting', 'active', 'delayed', 'prioritized', 'failed', 'oldestAgeSeconds'],
                  additionalProperties: false,
                  properties: {
                    name: { type: 'string' },
                    waiting: { type: 'integer' },
                    active: { type: 'integer' },
                    delayed: { type: 'integer' },
                    prioritized: { type: 'integer' },
                    failed: { type: 'integer' },
                    oldestAgeSeconds: { type: 'integer', description: 'age of the oldest waiting, delayed or active job' },
                  },
                },
              },
              recipients: {
                type: 'object',
                required: ['queued', 'relay', 'deferred', 'held'],
                additionalProperties: false,
                properties: { queued: counts, relay: counts, deferred: counts, held: counts },
              },
            },
          },
          ...errors(),
        },
      },
    },
    async () => {
      const queues = await jobs.stats().catch((err: Error) => {
        throw new ApiError('unavailable', `queue statistics unavailable: ${err.message}`, err);
      });
      return { queues, recipients: await queue.totals(null) };
    },
  );

  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/queue/domains',
    {
      schema: {
        tags,
        summary: 'Waiting recipients per destination domain, with the oldest message age',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 500 },
            cursor: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$' },
          },
        },
        response: {
          200: page({
            type: 'object',
            required: ['domain', 'relay', 'deferred', 'held', 'oldestAgeSeconds', 'nextAttemptAt'],
            additionalProperties: false,
            properties: {
              domain: { type: 'string' },
              relay: { type: 'integer' },
              deferred: { type: 'integer' },
              held: { type: 'integer' },
              oldestAgeSeconds: { type: 'integer' },
              nextAttemptAt: { type: ['string', 'null'], format: 'date-time' },
            },
          }),
          ...errors(),
        },
      },
    },
    async (req) => pageOut(await queue.domains(domainLimit(principalOf(req)), pageArgs(req.query, defaultLimit))),
  );
}
