// Queue filters → one SQL WHERE clause over `recipients r JOIN messages m` (pure). Every
// value goes in as a parameter; the clause text depends only on which filters are set.

export const RECIPIENT_STATUSES = ['queued', 'relay', 'deferred', 'held', 'delivered', 'expanded', 'bounced', 'failed'] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

export interface QueueFilter {
  status?: RecipientStatus[] | undefined;
  /** Destination (recipient) domain. */
  domain?: string | undefined;
  /** Envelope sender; '<>' is the null sender, '@example.org' every sender of that domain. */
  sender?: string | undefined;
  recipient?: string | undefined;
  messageId?: string | undefined;
  /** Only messages received at least this long ago. */
  minAgeSeconds?: number | undefined;
  /** Only messages received at most this long ago. */
  maxAgeSeconds?: number | undefined;
  /** Substring of the last remote reply, case-insensitive. */
  reply?: string | undefined;
}

/** LIKE pattern matching `s` literally anywhere. */
export function containsPattern(s: string): string {
  return '%' + s.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}

export function whereClause(f: QueueFilter, limitDomains: readonly string[] | null, params: unknown[]): string {
  const c: string[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.status?.length) c.push(`r.status = ANY(${p(f.status)}::text[])`);
  if (f.domain !== undefined) c.push(`lower(r.domain) = lower(${p(f.domain)})`);
  if (f.sender !== undefined) {
    if (f.sender === '<>') c.push(`m.mail_from = ''`);
    else if (f.sender.startsWith('@')) c.push(`lower(m.mail_from) LIKE ${p('%' + f.sender.toLowerCase().replace(/[\\%_]/g, (x) => '\\' + x))}`);
    else c.push(`lower(m.mail_from) = lower(${p(f.sender)})`);
  }
  if (f.recipient !== undefined) c.push(`lower(r.address) = lower(${p(f.recipient)})`);
  if (f.messageId !== undefined) c.push(`r.message_id = ${p(f.messageId)}::uuid`);
  if (f.minAgeSeconds !== undefined) c.push(`m.received_at <= now() - make_interval(secs => ${p(f.minAgeSeconds)}::float8)`);
  if (f.maxAgeSeconds !== undefined) c.push(`m.received_at >= now() - make_interval(secs => ${p(f.maxAgeSeconds)}::float8)`);
  if (f.reply !== undefined) c.push(`r.last_reply ILIKE ${p(containsPattern(f.reply))}`);
  if (limitDomains) c.push(`lower(r.domain) = ANY(${p(limitDomains)}::text[])`);
  return c.length ? c.join(' AND ') : 'true';
}
