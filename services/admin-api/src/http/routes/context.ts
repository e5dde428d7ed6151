import type { FastifyRequest } from 'fastify';
import type { PasswordHasher } from '../../adapters/password.ts';
import type { Store } from '../../adapters/store.ts';
import type { KeyStore } from '../../adapters/keys.ts';
import type { AuditStore } from '../../adapters/audit.ts';
import type { QueueStore } from '../../adapters/queue.ts';
import type { QueueJobs } from '../../adapters/queue-jobs.ts';
import type { MessageSearch } from '../../adapters/messages.ts';
import type { WebhookStore } from '../../adapters/webhooks.ts';
import type { DkimKeyStore } from '../../adapters/dkim-keys.ts';
import type { TransportSecurityStore } from '../../adapters/transport-security.ts';
import type { DnsClient } from '@hopmail/dns-client';
import type { Kek } from '@hopmail/sender-auth';
import type { DoctorSettings } from '../../policy/dns-doctor.ts';
import { ApiError, badRequest, forbidden } from '../../errors.ts';
import type { Checked } from '../../policy/names.ts';
import { decodeCursor, encodeCursor } from '../../policy/cursor.ts';
import { coversDomain, type Access, type Principal } from '../../policy/scope.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /** What the audit entry of this request says beyond method, route and params. */
    audit: { target?: string; details?: Record<string, unknown> } | null;
  }
  interface FastifyContextConfig {
    /** Default: 'read' for GET, 'write' otherwise. */
    access?: Access;
    /** Audit action name of a changing route, e.g. 'mailbox.create'. */
    action?: string;
  }
}

/** What the /v1 routes work with. */
export interface ApiDeps {
  store: Store;
  hasher: PasswordHasher;
  /** ADMIN_LIST_DEFAULT_LIMIT */
  defaultLimit: number;
  keys: KeyStore;
  auditLog: AuditStore;
  /** Queue control in PostgreSQL. */
  queue: QueueStore;
  /** Queue control in Redis: jobs and queue depth. */
  jobs: QueueJobs;
  messages: MessageSearch;
  webhooks: WebhookStore;
  /** QUEUE_BULK_BATCH */
  bulkBatch: number;
  /** WEBHOOK_ALLOW_PRIVATE: webhook URLs may name non-public addresses. */
  webhookAllowPrivate: boolean;
  dkimKeys: DkimKeyStore;
  /** Encrypts the DKIM private keys it creates (DKIM_KEY_ENCRYPTION_KEY). */
  kek: Kek;
  /** Look-ups of the DNS doctor and of key activation, through dns-cache. */
  dns: DnsClient;
  doctor: DoctorSettings;
  /** DKIM_GRACE_DAYS */
  dkimGraceDays: number;
  /** TLS policy table, TLS outcomes, received TLS-RPT reports (migration 0017). */
  tls: TransportSecurityStore;
  /** TLSRPT_MAX_BYTES: largest report POST /tlsrpt takes. */
  tlsRptMaxBytes: number;
}

/** The value of a policy check, or a 400 naming the field. */
export function must<T>(c: Checked<T>): T {
  if (!c.ok) throw badRequest(c.message);
  return c.value;
}

export function pageArgs(q: { limit?: number; cursor?: string }, defaultLimit: number): { limit: number; after: string | null } {
  let after: string | null = null;
  if (q.cursor !== undefined) {
    after = decodeCursor(q.cursor);
    if (after === null) throw new ApiError('invalidCursor', 'querystring.cursor is not a cursor this server issued');
  }
  return { limit: q.limit ?? defaultLimit, after };
}

export function pageOut<T>(p: { items: T[]; nextKey: string | null }): { items: T[]; nextCursor: string | null } {
  return { items: p.items, nextCursor: p.nextKey === null ? null : encodeCursor(p.nextKey) };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new ApiError('unauthorized', 'not authenticated');
  return req.principal;
}

/** 403 unless the caller may act on `domain`. */
export function requireDomain(req: FastifyRequest, domain: string): void {
  if (!coversDomain(principalOf(req), domain)) throw forbidden(`this key is not allowed to access domain ${domain.toLowerCase()}`);
}

export function noteAudit(req: FastifyRequest, target: string | undefined, details: Record<string, unknown> = {}): void {
  req.audit = { ...(target === undefined ? {} : { target }), details: { ...(req.audit?.details ?? {}), ...details } };
}
