// The queue page's filters — the CLI's (status, domain, sender, recipient, age) — between the
// address bar, the list query and the body of a bulk action (pure).
import { parseAge } from './format.ts';

export const STATUSES = ['queued', 'relay', 'deferred', 'held', 'failed', 'bounced', 'delivered', 'expanded'] as const;
export type Status = (typeof STATUSES)[number];
export const DEFAULT_STATUSES: Status[] = ['deferred', 'held', 'relay', 'failed', 'bounced'];

export interface QueueForm {
  status: Status[];
  domain: string;
  sender: string;
  recipient: string;
  /** '2h', '1d'… as typed. */
  minAge: string;
  maxAge: string;
  reply: string;
}

export const emptyForm = (): QueueForm => ({ status: [], domain: '', sender: '', recipient: '', minAge: '', maxAge: '', reply: '' });

export function formFromSearch(search: string): QueueForm {
  const q = new URLSearchParams(search);
  const status = (q.get('status') ?? '').split(',').filter((s): s is Status => (STATUSES as readonly string[]).includes(s));
  return { status, domain: q.get('domain') ?? '', sender: q.get('sender') ?? '', recipient: q.get('recipient') ?? '', minAge: q.get('minAge') ?? '', maxAge: q.get('maxAge') ?? '', reply: q.get('reply') ?? '' };
}

export function searchFromForm(f: QueueForm): string {
  const q = new URLSearchParams();
  if (f.status.length) q.set('status', f.status.join(','));
  for (const k of ['domain', 'sender', 'recipient', 'minAge', 'maxAge', 'reply'] as const) if (f[k].trim()) q.set(k, f[k].trim());
  const s = q.toString();
  return s ? `?${s}` : '';
}

export interface ApiFilter {
  status?: Status[];
  domain?: string;
  sender?: string;
  recipient?: string;
  minAgeSeconds?: number;
  maxAgeSeconds?: number;
  reply?: string;
}

/** The filter in the API's terms, or the first problem in words. */
export function toApiFilter(f: QueueForm): { ok: true; filter: ApiFilter } | { ok: false; message: string } {
  const out: ApiFilter = {};
  if (f.status.length) out.status = [...f.status];
  for (const k of ['domain', 'sender', 'recipient', 'reply'] as const) if (f[k].trim()) out[k] = f[k].trim();
  for (const [k, apiKey] of [['minAge', 'minAgeSeconds'], ['maxAge', 'maxAgeSeconds']] as const) {
    if (!f[k].trim()) continue;
    const s = parseAge(f[k]);
    if (s === null) return { ok: false, message: `${k === 'minAge' ? 'Older than' : 'Newer than'}: write an age such as 30m, 2h or 1d.` };
    out[apiKey] = s;
  }
  return { ok: true, filter: out };
}

/** Query string parameters of GET /v1/queue/recipients and /count. */
export function toQuery(f: ApiFilter): Record<string, string | number> {
  const q: Record<string, string | number> = {};
  if (f.status?.length) q.status = f.status.join(',');
  for (const k of ['domain', 'sender', 'recipient', 'reply', 'minAgeSeconds', 'maxAgeSeconds'] as const) if (f[k] !== undefined) q[k] = f[k]!;
  return q;
}

/** Bulk actions need at least one condition (an empty filter would touch the whole queue). */
export const hasCondition = (f: ApiFilter) => Object.keys(f).length > 0;

export type BulkAction = 'retry' | 'hold' | 'release' | 'delete';

/** The states each action changes (admin-api's queue control); other rows are left alone. */
export const APPLIES: Record<BulkAction, Status[]> = {
  retry: ['relay', 'deferred'],
  hold: ['relay', 'deferred'],
  release: ['held'],
  delete: ['queued', 'relay', 'deferred', 'held'],
};

/** The filter of a bulk action: the form's conditions, limited to the states the action changes. */
export function actionFilter(f: ApiFilter, action: BulkAction): ApiFilter & { status: Status[] } {
  const status = f.status?.length ? f.status.filter((s) => APPLIES[action].includes(s)) : APPLIES[action];
  return { ...f, status };
}
