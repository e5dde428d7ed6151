import { bool, commonConfig, int, localPart, port, z } from '@hopmail/config';

export const configSchema = z.object({
  ...commonConfig,
  HEALTH_PORT: port(9102, 'port of /healthz, /readyz and /metrics for routing'),
  ROUTING_CONCURRENCY: int(64, 1, 512, 'route-message jobs one process handles at once (their reads and writes share batched statements)'),
  ROUTING_LOCK_MS: int(15_000, 1_000, 600_000, 'BullMQ job lock; a job whose worker died (kill -9) is picked up again after about this long'),
  LOCAL_PART_CASE_SENSITIVE: bool(false, 'compare local parts case-sensitively (RFC 5321 allows it; almost nobody wants it)'),
  // @hopmail/config treats an empty variable as unset, so "off" is spelled `none` in the
  // environment; an empty string passed programmatically also disables it.
  SUBADDRESS_DELIMITER: z
    .string()
    .regex(/^(none|[^@\s"\\]?)$/, 'one character (not @, space, quote or backslash), or none')
    .default('+')
    .transform((v) => (v === 'none' ? '' : v))
    .describe('RFC 5233 subaddress delimiter (user+tag is delivered to user); `none` disables subaddressing'),
  ALIAS_MAX_DEPTH: int(10, 1, 100, 'longest alias → alias chain followed before the recipient bounces as a loop (5.4.6)'),
  ALIAS_MAX_TARGETS: int(1000, 1, 100_000, 'most addresses one recipient may expand to before it bounces (5.5.3)'),
  TLSRPT_LOCAL_PART: localPart('tls-reports', 'the TLS-RPT report address (RFC 8460 rua=mailto:<this>@<domain>): mail to it at a local domain is parsed and stored as a TLS-RPT report (GET /v1/domains/{name}/tls-reports), and also delivered to a mailbox or alias of that name if one exists; must match smtp-ingress and admin-api'),
  TLSRPT_MAX_BYTES: int(5_242_880, 1024, 52_428_800, 'largest TLS-RPT report taken by mail: the attachment once decoded, and its JSON once uncompressed (gunzip stops there: a gzip bomb is refused, not inflated)'),
  DIRECTORY_CACHE_MS: int(1000, 0, 300_000, 'how long mailbox/alias lookups are cached; admin changes take effect after at most this long'),
  RECONCILE_INTERVAL_MS: int(30_000, 50, 3_600_000, 'how often the reconciler looks in PostgreSQL for unfinished work whose job is missing'),
  RECONCILE_GRACE_MS: int(60_000, 0, 86_400_000, 'age a queued/relay recipient must reach before the reconciler re-enqueues its job (leaves time for the normal path)'),
  RECONCILE_BATCH: int(500, 1, 100_000, 'rows per reconciler scan page; bounds memory on a big backlog'),
});

export type Config = z.output<typeof configSchema>;
