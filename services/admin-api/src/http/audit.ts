// The audit entry of a request: every non-GET that changed something (2xx) or was refused
// for lack of rights (403). Bodies go in without secrets (passwords, webhook secrets).
import type { FastifyRequest } from 'fastify';
import type { AuditEntry } from '../adapters/audit.ts';

const SECRET_KEYS = new Set(['password', 'secret', 'key', 'token', 'privateKey']);

function scrub(v: unknown, depth = 0): unknown {
  if (depth > 4) return '…';
  if (Array.isArray(v)) return v.slice(0, 100).map((x) => scrub(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEYS.has(k) ? '[redacted]' : scrub(x, depth + 1);
    return out;
  }
  return typeof v === 'string' && v.length > 300 ? v.slice(0, 300) + '…' : v;
}

export function auditEntry(req: FastifyRequest, status: number): Omit<AuditEntry, 'id' | 'at'> | null {
  if (req.method === 'GET' || req.method === 'HEAD' || !req.principal || req.routeOptions.url === undefined) return null;
  if (!((status >= 200 && status < 300) || status === 403)) return null;
  const params = (req.params ?? {}) as Record<string, string>;
  const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
  const named = [body.name, body.address, body.source].find((v) => typeof v === 'string') as string | undefined;
  const target = req.audit?.target ?? (Object.values(params).join(' ') || named || null);
  return {
    actor: req.principal.actor,
    keyId: req.principal.keyId,
    action: req.routeOptions.config.action ?? `${req.method} ${req.routeOptions.url}`,
    target,
    status,
    requestId: String(req.id),
    remoteIp: req.ip,
    details: { ...(req.body !== undefined ? { request: scrub(req.body) } : {}), ...(Object.keys(req.query ?? {}).length ? { query: scrub(req.query) } : {}), ...(req.audit?.details ?? {}) },
  };
}
