// The `hopmail` commands. Each returns what to print: `json` for --json, `text` otherwise.
import { flag, has, onlyFlags, parseAge, UsageError, type Parsed } from './args.ts';
import { qs, type Client } from './client.ts';
import { keyValues, table } from './table.ts';

export interface Io {
  out(s: string): void;
  /** Progress and notes; never mixed into stdout, so --json output stays parseable. */
  err(s: string): void;
  stdin(): Promise<string>;
  isTty: boolean;
}

export interface Result {
  json: unknown;
  text: string;
}

type Handler = (p: Parsed, api: Client, io: Io) => Promise<Result>;

const enc = encodeURIComponent;
const arg = (p: Parsed, i: number, what: string): string => {
  const v = p.words[i];
  if (v === undefined) throw new UsageError(`missing ${what}`);
  return v;
};

/** One page, or every page with --all. */
async function list(p: Parsed, api: Client, path: string, params: Record<string, string | number | undefined>): Promise<{ items: any[]; nextCursor: string | null }> {
  const all = has(p, 'all');
  const limit = flag(p, 'limit') ?? (all ? '500' : undefined);
  let cursor = flag(p, 'cursor');
  const items: any[] = [];
  for (;;) {
    const r = await api.call('GET', path + qs({ ...params, limit, cursor }));
    items.push(...r.items);
    if (!all || !r.nextCursor) return { items, nextCursor: r.nextCursor };
    cursor = r.nextCursor;
  }
}

function listResult(r: { items: any[]; nextCursor: string | null }, columns: (string | [string, string])[], io: Io): Result {
  if (r.nextCursor) io.err(`more: --cursor ${r.nextCursor} (or --all)\n`);
  return { json: r, text: r.items.length ? table(r.items, columns) : '(none)\n' };
}

/** on|off|default of a per-domain switch; default (null) is the cluster's setting. */
const SWITCH = { on: true, off: false, default: null } as const;

const shown = (o: any): Result => ({ json: o, text: keyValues(o) });
const done = (msg: string, json: unknown = { ok: true }): Result => ({ json, text: msg + '\n' });

/** `abuse allow|block <address, network or domain> [--reason text]`. */
async function listed(list: 'allow' | 'block', p: Parsed, api: Client): Promise<Result> {
  onlyFlags(p, ['reason']);
  const reason = flag(p, 'reason');
  const e = await api.call('POST', '/v1/abuse/lists', { list, value: arg(p, 2, 'address, network or domain'), ...(reason === undefined ? {} : { reason }) });
  return done(`${e.value} is on the ${list}list (entry ${e.id})`, e);
}

// ---- queue filters, shared by list and the bulk actions ----
const FILTER_FLAGS = ['status', 'domain', 'sender', 'recipient', 'message', 'min-age', 'max-age', 'reply'];

function filterFrom(p: Parsed, queueId: string | undefined): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  const status = p.flags.get('status')?.flatMap((s) => s.split(',')).filter(Boolean);
  if (status?.length) f.status = status;
  for (const [fl, key] of [['domain', 'domain'], ['sender', 'sender'], ['recipient', 'recipient'], ['reply', 'reply']] as const) {
    const v = flag(p, fl);
    if (v !== undefined) f[key] = v;
  }
  const id = queueId ?? flag(p, 'message');
  if (id !== undefined) f.messageId = id;
  const min = flag(p, 'min-age');
  if (min !== undefined) f.minAgeSeconds = parseAge(min);
  const max = flag(p, 'max-age');
  if (max !== undefined) f.maxAgeSeconds = parseAge(max);
  return f;
}

const asQuery = (f: Record<string, unknown>) => {
  const q: Record<string, string | number | undefined> = {};
  for (const [k, v] of Object.entries(f)) q[k] = Array.isArray(v) ? v.join(',') : (v as string | number);
  return q;
};

async function bulk(action: 'retry' | 'hold' | 'release' | 'delete', p: Parsed, api: Client, io: Io): Promise<Result> {
  onlyFlags(p, [...FILTER_FLAGS, 'dsn', 'batch', 'progress', 'yes']);
  const filter = filterFrom(p, p.words[2]);
  if (Object.keys(filter).length === 0) throw new UsageError(`queue ${action} needs a queue id or at least one filter (--domain, --status, --sender, …)`);
  if (action === 'delete' && p.words[2] === undefined && !has(p, 'yes')) throw new UsageError('bulk delete needs --yes');
  const defaults: Record<string, string[]> = { retry: ['relay', 'deferred'], hold: ['relay', 'deferred'], release: ['held'], delete: ['queued', 'relay', 'deferred', 'held'] };
  const countFilter = { ...filter, status: (filter.status as string[] | undefined) ?? defaults[action] };
  const total = (await api.call('GET', '/v1/queue/count' + qs(asQuery(countFilter)))).count as number;
  const batch = Number(flag(p, 'batch') ?? 200);
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError('--batch must be a positive integer');
  const showProgress = has(p, 'progress') || io.isTty;
  let cursor: string | undefined;
  const sum = { action, matched: 0, changed: 0, jobs: 0 };
  let printed = false;
  do {
    const r = await api.call('POST', `/v1/queue/${action}`, { filter, maxRows: batch, ...(action === 'delete' && has(p, 'dsn') ? { dsn: true } : {}), ...(cursor ? { cursor } : {}) });
    sum.matched += r.matched;
    sum.changed += r.changed;
    sum.jobs += r.jobs;
    cursor = r.nextCursor ?? undefined;
    // A walk that ended exactly at a batch boundary costs one empty call: nothing to report.
    if (showProgress && (r.matched > 0 || !printed)) {
      printed = true;
      const pct = total ? Math.min(100, Math.round((100 * sum.matched) / total)) : 100;
      const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
      io.err(`${io.isTty ? '\r' : ''}${action} [${bar}] ${sum.matched}/${total} ${pct}%${io.isTty ? '' : '\n'}`);
    }
  } while (cursor);
  if (printed && io.isTty) io.err('\n');
  return { json: sum, text: `${action}: ${sum.changed} changed of ${sum.matched} matching${action === 'retry' || action === 'release' ? `, ${sum.jobs} delivery jobs queued` : ''}\n` };
}

export const COMMANDS: Record<string, Record<string, Handler>> = {
  domains: {
    list: async (p, api, io) => listResult(await list(p, api, '/v1/domains', {}), ['name', 'kind', 'createdAt'], io),
    show: async (p, api) => shown(await api.call('GET', `/v1/domains/${enc(arg(p, 2, 'domain'))}`)),
    add: async (p, api) => {
      const d = await api.call('POST', '/v1/domains', { name: arg(p, 2, 'domain'), kind: has(p, 'relay') ? 'relay' : 'local' });
      return done(`domain ${d.name} created (${d.kind})`, d);
    },
    rm: async (p, api) => {
      await api.call('DELETE', `/v1/domains/${enc(arg(p, 2, 'domain'))}${has(p, 'cascade') ? '?cascade=true' : ''}`);
      return done(`domain ${p.words[2]} deleted`);
    },
    dns: async (p, api) => {
      const r = await api.call('GET', `/v1/domains/${enc(arg(p, 2, 'domain'))}/dns`);
      const rows = r.records.map((x: any) => ({ ...x, status: x.required ? x.status : `${x.status} (optional)`, found: x.found ?? '-' }));
      const todo = r.records.filter((x: any) => x.status !== 'ok');
      const publish = todo.length
        ? '\nto publish:\n' + todo.map((x: any) => `  ${x.name}. IN ${x.type} ${x.type === 'TXT' ? JSON.stringify(x.value) : x.value}${x.detail ? `\n    (${x.status}: ${x.detail})` : ''}${x.note ? `\n    ${x.note}` : ''}`).join('\n') + '\n'
        : '';
      return { json: r, text: table(rows, ['kind', 'name', 'type', 'status', 'found'], 70) + publish + `\n${r.domain}: ${r.ok ? 'every required record is published' : 'not ready'}\n` };
    },
    // domains policy <name> [--dmarc-enforce on|off|default] [--spf-reject on|off|default]: no flag shows it.
    policy: async (p, api) => {
      onlyFlags(p, ['dmarc-enforce', 'spf-reject']);
      const name = arg(p, 2, 'domain');
      const body: Record<string, boolean | null> = {};
      for (const [fl, field] of [['dmarc-enforce', 'inboundDmarcEnforce'], ['spf-reject', 'inboundSpfReject']] as const) {
        const v = flag(p, fl);
        if (v === undefined) continue;
        if (!(v in SWITCH)) throw new UsageError(`--${fl} takes on, off or default`);
        body[field] = SWITCH[v as keyof typeof SWITCH];
      }
      const d = Object.keys(body).length ? await api.call('PATCH', `/v1/domains/${enc(name)}`, body) : await api.call('GET', `/v1/domains/${enc(name)}`);
      const state = (v: boolean | null, setting: string) => (v === null ? `default (smtp-ingress ${setting})` : v ? 'on' : 'off');
      const json = { name: d.name, inboundDmarcEnforce: d.inboundDmarcEnforce, inboundSpfReject: d.inboundSpfReject };
      return {
        json,
        text:
          `inbound authentication policy of ${d.name}:\n` +
          `  dmarc-enforce  ${state(d.inboundDmarcEnforce, 'INBOUND_DMARC_ENFORCE')}   (on: DMARC p=reject refused 550 5.7.1, p=quarantine marked; off: only marked)\n` +
          `  spf-reject     ${state(d.inboundSpfReject, 'INBOUND_SPF_REJECT')}   (on: SPF fail refused 550 5.7.23 even when DMARC passes)\n`,
      };
    },
  },
  dkim: {
    list: async (p, api) => {
      const r = await api.call('GET', `/v1/domains/${enc(arg(p, 2, 'domain'))}/dkim`);
      return { json: r, text: r.items.length ? table(r.items, ['selector', 'algorithm', 'bits', 'status', 'signing', ['activatedAt', 'ACTIVATED'], ['retireAt', 'RETIRE AT']]) : '(none)\n' };
    },
    add: (p, api, io) => addKeys(p, api, io, false),
    rotate: (p, api, io) => addKeys(p, api, io, true),
    activate: async (p, api) => {
      const domain = arg(p, 2, 'domain');
      const selectors = p.words.slice(3);
      if (!selectors.length) throw new UsageError('missing selector(s)');
      const grace = flag(p, 'grace-days');
      const keys = [];
      for (const s of selectors) keys.push(await api.call('POST', `/v1/domains/${enc(domain)}/dkim/${enc(s)}/activate`, { ...(grace !== undefined ? { graceDays: Number(grace) } : {}), ...(has(p, 'force') ? { force: true } : {}) }));
      return { json: keys, text: keys.map((k) => `DKIM key ${k.selector} (${k.algorithm}) of ${k.domain} is active and signs\n`).join('') + 'older keys of the same algorithm keep their records published until their retirement (hopmail dkim list)\n' };
    },
    retire: async (p, api) => {
      const domain = arg(p, 2, 'domain');
      const selectors = p.words.slice(3);
      if (!selectors.length) throw new UsageError('missing selector(s)');
      const keys = [];
      for (const s of selectors) keys.push(await api.call('POST', `/v1/domains/${enc(domain)}/dkim/${enc(s)}/retire`, {}));
      return { json: keys, text: keys.map((k) => `DKIM key ${k.selector} of ${k.domain} retired\n`).join('') };
    },
    rm: async (p, api) => {
      await api.call('DELETE', `/v1/domains/${enc(arg(p, 2, 'domain'))}/dkim/${enc(arg(p, 3, 'selector'))}`);
      return done(`DKIM key ${p.words[3]} of ${p.words[2]} deleted`);
    },
  },
  tls: {
    // tls set <domain> <none|may|encrypt|dane|verify> [--ca-stdin] [--fingerprint sha256]… [--note text]
    set: async (p, api, io) => {
      onlyFlags(p, ['ca-stdin', 'fingerprint', 'note']);
      const domain = arg(p, 2, 'domain');
      const policy = arg(p, 3, 'policy (none, may, encrypt, dane, verify)');
      const fingerprints = p.flags.get('fingerprint') ?? [];
      const caPem = has(p, 'ca-stdin') ? await io.stdin() : undefined;
      const note = flag(p, 'note');
      const r = await api.call('PUT', `/v1/tls-policies/${enc(domain)}`, { policy, ...(caPem ? { caPem } : {}), ...(fingerprints.length ? { fingerprints } : {}), ...(note !== undefined ? { note } : {}) });
      return done(`TLS policy for ${r.domain}: ${r.policy}${r.caPem ? ' (own CA)' : ''}${r.fingerprints.length ? ` (${r.fingerprints.length} pinned)` : ''}`, r);
    },
    list: async (p, api, io) => listResult(await list(p, api, '/v1/tls-policies', {}), ['domain', 'policy', ['fingerprints', 'PINS'], 'note', ['updatedAt', 'UPDATED']], io),
    show: async (p, api) => shown(await api.call('GET', `/v1/tls-policies/${enc(arg(p, 2, 'domain'))}`)),
    rm: async (p, api) => {
      await api.call('DELETE', `/v1/tls-policies/${enc(arg(p, 2, 'domain'))}`);
      return done(`TLS policy for ${p.words[2]} removed: DANE and MTA-STS discovery apply`);
    },
    outcomes: async (p, api) => {
      const days = flag(p, 'days');
      const r = await api.call('GET', `/v1/tls-outcomes/${enc(arg(p, 2, 'domain'))}${qs({ days })}`);
      const rows = r.items.map((x: any) => ({ ...x, resultType: x.resultType || 'success' }));
      return { json: r, text: rows.length ? table(rows, ['day', ['policyType', 'POLICY'], ['mxHost', 'MX'], ['receivingIp', 'IP'], ['resultType', 'RESULT'], 'count']) : '(none)\n' };
    },
    reports: async (p, api) => {
      const r = await api.call('GET', `/v1/domains/${enc(arg(p, 2, 'domain'))}/tls-reports`);
      return { json: r, text: r.items.length ? table(r.items, ['organization', ['reportId', 'REPORT'], ['startAt', 'FROM'], ['endAt', 'TO'], 'successful', 'failed']) : '(none)\n' };
    },
  },
  mailboxes: {
    list: async (p, api, io) => listResult(await list(p, api, '/v1/mailboxes', { domain: flag(p, 'domain') }), ['address', 'quotaBytes', 'createdAt'], io),
    show: async (p, api) => shown(await api.call('GET', `/v1/mailboxes/${enc(arg(p, 2, 'address'))}`)),
    add: async (p, api, io) => {
      const password = await passwordFrom(p, io);
      const quota = flag(p, 'quota');
      const m = await api.call('POST', '/v1/mailboxes', { address: arg(p, 2, 'address'), password, ...(quota ? { quotaBytes: Number(quota) } : {}) });
      return done(`mailbox ${m.address} created`, m);
    },
    passwd: async (p, api, io) => {
      const m = await api.call('PATCH', `/v1/mailboxes/${enc(arg(p, 2, 'address'))}`, { password: await passwordFrom(p, io) });
      return done(`password of ${m.address} changed`, m);
    },
    quota: async (p, api) => {
      const m = await api.call('PATCH', `/v1/mailboxes/${enc(arg(p, 2, 'address'))}`, { quotaBytes: Number(arg(p, 3, 'bytes')) });
      return done(`quota of ${m.address} is ${m.quotaBytes} bytes`, m);
    },
    rm: async (p, api) => {
      await api.call('DELETE', `/v1/mailboxes/${enc(arg(p, 2, 'address'))}`);
      return done(`mailbox ${p.words[2]} deleted`);
    },
  },
  aliases: {
    list: async (p, api, io) => listResult(await list(p, api, '/v1/aliases', { domain: flag(p, 'domain') }), ['source', 'targets'], io),
    show: async (p, api) => shown(await api.call('GET', `/v1/aliases/${enc(arg(p, 2, 'source'))}`)),
    add: async (p, api) => {
      const targets = p.words.slice(3);
      if (!targets.length) throw new UsageError('missing target address(es)');
      const a = await api.call('POST', '/v1/aliases', { source: arg(p, 2, 'source'), targets });
      return done(`alias ${a.source} → ${a.targets.join(', ')}`, a);
    },
    set: async (p, api) => {
      const targets = p.words.slice(3);
      if (!targets.length) throw new UsageError('missing target address(es)');
      const a = await api.call('PATCH', `/v1/aliases/${enc(arg(p, 2, 'source'))}`, { targets });
      return done(`alias ${a.source} → ${a.targets.join(', ')}`, a);
    },
    rm: async (p, api) => {
      await api.call('DELETE', `/v1/aliases/${enc(arg(p, 2, 'source'))}`);
      return done(`alias ${p.words[2]} deleted`);
    },
  },
  queue: {
    list: async (p, api, io) => {
      onlyFlags(p, [...FILTER_FLAGS, 'limit', 'cursor', 'all']);
      const r = await list(p, api, '/v1/queue/recipients', asQuery(filterFrom(p, undefined)));
      return listResult(r, [['messageId', 'QUEUE ID'], 'address', 'status', 'attempts', ['nextAttemptAt', 'NEXT ATTEMPT'], ['lastReply', 'LAST REPLY']], io);
    },
    retry: (p, api, io) => bulk('retry', p, api, io),
    hold: (p, api, io) => bulk('hold', p, api, io),
    release: (p, api, io) => bulk('release', p, api, io),
    delete: (p, api, io) => bulk('delete', p, api, io),
    stats: async (_p, api) => {
      const s = await api.call('GET', '/v1/queue/stats');
      const rec = Object.entries(s.recipients).map(([status, v]: [string, any]) => ({ status, ...v }));
      return { json: s, text: table(s.queues, ['name', 'waiting', 'active', 'delayed', 'failed', ['oldestAgeSeconds', 'OLDEST (s)']]) + '\n' + table(rec, ['status', 'count', ['oldestAgeSeconds', 'OLDEST (s)']]) };
    },
    domains: async (p, api, io) => listResult(await list(p, api, '/v1/queue/domains', {}), ['domain', 'relay', 'deferred', 'held', ['oldestAgeSeconds', 'OLDEST (s)'], ['nextAttemptAt', 'NEXT ATTEMPT']], io),
  },
  messages: {
    search: async (p, api, io) => {
      const r = await list(p, api, '/v1/messages', {
        queueId: flag(p, 'queue-id'), messageId: flag(p, 'message-id'), sender: flag(p, 'sender'), recipient: flag(p, 'recipient'),
        status: flag(p, 'status'), since: flag(p, 'since'), until: flag(p, 'until'),
      });
      const rows = r.items.map((m) => ({ ...m, recipients: m.recipients.map((x: any) => `${x.address}:${x.status}`), spam: spamSummary(m.spam) }));
      return listResult({ items: rows, nextCursor: r.nextCursor }, [['id', 'QUEUE ID'], ['receivedAt', 'RECEIVED'], 'sender', 'size', 'spam', 'recipients'], io);
    },
    report: async (p, api) => {
      const id = arg(p, 2, 'queue id');
      const kind = arg(p, 3, 'spam or ham');
      if (kind !== 'spam' && kind !== 'ham') throw new UsageError(`messages report: expected spam or ham, not ${JSON.stringify(kind)}`);
      const r = await api.call('POST', `/v1/messages/${enc(id)}/report`, { kind });
      return { json: r, text: `message ${r.id} reported as ${r.kind}: ${r.learned ? 'learned' : r.message}\n` };
    },
    headers: async (p, api) => {
      const h = await api.call('GET', `/v1/messages/${enc(arg(p, 2, 'queue id'))}/headers`);
      return { json: h, text: h.headers.replace(/\r\n/g, '\n') + '\n' + (h.truncated ? '(header cut at 64 KiB)\n' : '') };
    },
  },
  abuse: {
    stats: async (_p, api) => {
      const s = await api.call('GET', '/v1/abuse/stats');
      const reasons = [...new Set([...Object.keys(s.lastDay), ...Object.keys(s.lastHour)])].sort((a, b) => (s.lastDay[b] ?? 0) - (s.lastDay[a] ?? 0));
      const rows = reasons.map((r) => ({ reason: r, lastHour: s.lastHour[r] ?? 0, lastDay: s.lastDay[r] ?? 0 }));
      return { json: s, text: rows.length ? table(rows, [['reason', 'STAGE:REASON'], ['lastHour', 'LAST HOUR'], ['lastDay', 'LAST DAY']]) : 'no refusals in the last day\n' };
    },
    lists: async (p, api, io) => {
      onlyFlags(p, ['list', 'limit', 'cursor', 'all']);
      return listResult(await list(p, api, '/v1/abuse/lists', { list: flag(p, 'list') }), ['id', 'list', 'kind', 'value', 'reason', ['createdBy', 'BY'], ['createdAt', 'CREATED']], io);
    },
    allow: (p, api) => listed('allow', p, api),
    block: (p, api) => listed('block', p, api),
    unlist: async (p, api) => {
      await api.call('DELETE', `/v1/abuse/lists/${enc(arg(p, 2, 'entry id'))}`);
      return done(`entry ${p.words[2]} removed`);
    },
    refusals: async (p, api, io) => {
      onlyFlags(p, ['recipient', 'sender', 'client', 'since', 'limit', 'cursor', 'all']);
      const r = await list(p, api, '/v1/messages/refusals', { recipient: flag(p, 'recipient'), sender: flag(p, 'sender'), clientIp: flag(p, 'client'), since: flag(p, 'since') });
      return listResult(r, ['at', ['clientIp', 'CLIENT'], 'sender', 'recipient', 'reply'], io);
    },
  },
  trace: {
    '': async (p, api) => {
      const id = arg(p, 1, 'queue id');
      const r = await api.call('GET', `/v1/messages/${enc(id)}/trace?limit=500`);
      const rows = r.events.map((e: any) => ({ ...e, detail: summarize(e) }));
      const m = r.message;
      const a = m.authResults;
      // Inbound authentication at smtp-ingress (issue 12), when it was checked.
      const auth = a ? `  authentication: spf=${a.spf?.result} dkim=${(a.dkim ?? []).map((d: any) => `${d.result}(${d.domain})`).join(',') || 'none'} dmarc=${a.dmarc?.result}${a.dmarc?.domain ? `(${a.dmarc.domain})` : ''} arc=${a.arc?.result}\n` : '';
      const head = `message ${m.id}  from <${m.sender}>  ${m.size} bytes  received ${m.receivedAt}${m.spam ? `  spam: ${spamSummary(m.spam)}` : ''}\n` + auth + m.recipients.map((x: any) => `  ${x.address}: ${x.status}`).join('\n') + '\n\n';
      return { json: r, text: head + table(rows, ['at', 'type', 'recipient', 'detail'], 100) };
    },
  },
  keys: {
    list: async (p, api, io) => listResult(await list(p, api, '/v1/keys', {}), ['id', 'name', 'scope', 'domains', 'prefix', ['lastUsedAt', 'LAST USED'], ['revokedAt', 'REVOKED']], io),
    add: async (p, api) => {
      const scope = flag(p, 'scope');
      if (!scope) throw new UsageError('--scope admin|read-only|domain-admin is required');
      const domains = p.flags.get('domain');
      const k = await api.call('POST', '/v1/keys', { name: arg(p, 2, 'name'), scope, ...(domains ? { domains } : {}) });
      return { json: k, text: `key ${k.id} (${k.scope}) created; it is shown only now:\n${k.key}\n` };
    },
    rm: async (p, api) => {
      await api.call('DELETE', `/v1/keys/${enc(arg(p, 2, 'key id'))}`);
      return done(`key ${p.words[2]} revoked`);
    },
  },
  webhooks: {
    list: async (p, api, io) => listResult(await list(p, api, '/v1/webhooks', {}), ['id', 'url', 'events', 'enabled', 'failures', ['lastError', 'LAST ERROR']], io),
    add: async (p, api) => {
      const events = p.flags.get('event')?.flatMap((e) => e.split(','));
      if (!events?.length) throw new UsageError('--event message.delivered (repeatable) is required');
      const w = await api.call('POST', '/v1/webhooks', { url: arg(p, 2, 'url'), events });
      return { json: w, text: `webhook ${w.id} created; signing secret (shown only now):\n${w.secret}\n` };
    },
    enable: async (p, api) => done('enabled', await api.call('PATCH', `/v1/webhooks/${enc(arg(p, 2, 'id'))}`, { enabled: true })),
    disable: async (p, api) => done('disabled', await api.call('PATCH', `/v1/webhooks/${enc(arg(p, 2, 'id'))}`, { enabled: false })),
    test: async (p, api) => {
      const r = await api.call('POST', `/v1/webhooks/${enc(arg(p, 2, 'id'))}/test`, {});
      const answer = r.status === null ? `no answer (${r.error})` : `HTTP ${r.status}${r.error ? ` (${r.error})` : ''}`;
      return { json: r, text: `test event ${r.eventId}: ${r.ok ? 'delivered' : 'failed'}, ${answer} in ${r.ms} ms\n${r.body ? r.body + '\n' : ''}` };
    },
    rm: async (p, api) => {
      await api.call('DELETE', `/v1/webhooks/${enc(arg(p, 2, 'id'))}`);
      return done(`webhook ${p.words[2]} deleted`);
    },
  },
  audit: {
    '': async (p, api, io) => listResult(await list(p, api, '/v1/audit', { actor: flag(p, 'actor'), action: flag(p, 'action'), since: flag(p, 'since') }), ['at', 'actor', 'action', 'target', 'status'], io),
  },
};

function summarize(e: { type: string; data: Record<string, any> }): string {
  const d = e.data;
  switch (e.type) {
    case 'received':
      return `from <${d.sender}> ${d.clientIp ?? 'local'}${d.tls ? ' TLS' : ''}${d.authUser ? ` auth=${d.authUser}` : ''} ${d.size} bytes`;
    case 'relay-attempt': {
      const a = d.auth ?? {};
      const dkim = a.dkim ? (a.dkim.result === 'signed' ? ` dkim=${a.dkim.domain}:${a.dkim.selectors.join('+')}` : ' dkim=unsigned') : '';
      const arc = a.arc ? (a.arc.result === 'sealed' ? ` arc=i${a.arc.instance}` : ' arc=unsealed') : '';
      const srs = d.envelopeFrom && a.srs?.result === 'rewritten' ? ` from=<${d.envelopeFrom}>` : '';
      return `${d.mx ?? '-'}${d.ip ? `[${d.ip}]` : ''} ${d.outcome}${d.tls ? ' TLS' : ''}${dkim}${arc}${srs}: ${d.reply ?? ''}`;
    }
    case 'deferred':
      return `${d.reply ?? ''} (next ${d.nextAttemptAt ?? '-'})`;
    case 'admin-action':
      return `${d.action}`;
    default:
      return Object.entries(d).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' ');
  }
}

/**
 * `dkim add` and `dkim rotate`: new keys (Ed25519 and RSA unless --algorithm), pending until
 * activated unless --activate; prints the records to publish. Rotation picks unused selectors.
 */
async function addKeys(p: Parsed, api: Client, io: Io, rotate: boolean): Promise<Result> {
  onlyFlags(p, rotate ? [] : ['selector', 'algorithm', 'bits', 'activate', 'private-key-stdin']);
  const domain = arg(p, 2, 'domain');
  const which = flag(p, 'algorithm') ?? (has(p, 'private-key-stdin') ? undefined : 'both');
  if (which !== undefined && !['ed25519', 'rsa', 'both'].includes(which)) throw new UsageError('--algorithm is ed25519, rsa or both');
  const algorithms: (string | undefined)[] = which === 'both' ? ['ed25519', 'rsa'] : [which];
  const selector = flag(p, 'selector');
  if (selector !== undefined && algorithms.length > 1) throw new UsageError('--selector names one key: give --algorithm ed25519 or rsa too');
  const privateKey = has(p, 'private-key-stdin') ? await io.stdin() : undefined;
  const taken = rotate ? new Set((await api.call('GET', `/v1/domains/${enc(domain)}/dkim`)).items.map((k: any) => k.selector)) : new Set();
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const keys = [];
  for (const algorithm of algorithms) {
    let sel = selector;
    if (rotate) {
      const base = `${algorithm === 'ed25519' ? 'ed' : 'rsa'}${day}`;
      sel = [base, ...'bcdefghijklmnopqrstuvwxyz'.split('').map((c) => base + c)].find((s) => !taken.has(s));
    }
    const bits = flag(p, 'bits');
    keys.push(await api.call('POST', `/v1/domains/${enc(domain)}/dkim`, {
      ...(sel ? { selector: sel } : {}), ...(algorithm ? { algorithm } : {}), ...(bits ? { bits: Number(bits) } : {}), ...(privateKey ? { privateKey } : {}), ...(has(p, 'activate') ? { activate: true } : {}),
    }));
  }
  const records = keys.map((k) => `  ${k.dns.name}. IN TXT ${JSON.stringify(k.dns.value)}`).join('\n');
  const next = keys.some((k) => k.status === 'pending') ? `\nthen: hopmail dkim activate ${domain} ${keys.map((k) => k.selector).join(' ')}\n` : '';
  return { json: keys, text: `created ${keys.map((k) => `${k.selector} (${k.algorithm}, ${k.status})`).join(', ')}; publish:\n${records}\n${next}` };
}

async function passwordFrom(p: Parsed, io: Io): Promise<string> {
  if (has(p, 'password-stdin')) return (await io.stdin()).replace(/\r?\n$/, '');
  const v = flag(p, 'password');
  if (v !== undefined) {
    io.err('warning: --password is visible to other users in the process list; prefer --password-stdin\n');
    return v;
  }
  throw new UsageError('give the password with --password-stdin (or --password)');
}

/** rspamd's verdict in one cell: `7.50/15.00 add header`, `unchecked`, or '' when none ran. */
function spamSummary(spam: any): string {
  if (!spam) return '';
  if (!spam.checked) return 'unchecked';
  return `${Number(spam.score).toFixed(2)}/${Number(spam.required).toFixed(2)} ${spam.action}`;
}
