import { bool, commonConfig, int, port, str, z } from '@hopmail/config';

export const configSchema = z.object({
  ...commonConfig,
  HEALTH_PORT: port(9106, 'port of /healthz, /readyz and /metrics (kept apart from the API so probes never need the token)'),
  ADMIN_PORT: port(8080, 'port of the management API; 0 picks a free one (tests)'),
  ADMIN_HOST: str('127.0.0.1', 'address the API listens on; the API changes mailboxes and passwords, so it stays on loopback unless you put TLS and a firewall in front of it'),
  // Deliberately no default, in development as in production: a guessable default token
  // on a port that changes passwords would be worse than refusing to start.
  ADMIN_TOKEN: z
    .string()
    .min(24, 'must be at least 24 characters (e.g. `openssl rand -base64 32`)')
    .max(1024)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .describe('bearer token every /v1 request must present; required, no default'),
  ADMIN_BODY_LIMIT: int(65_536, 1024, 10 * 1024 * 1024, 'largest request body in bytes (413 beyond it); requests are small JSON documents'),
  ADMIN_LIST_DEFAULT_LIMIT: int(100, 1, 500, 'page size of list routes when the client gives no ?limit='),
  ARGON2_MEMORY_KIB: int(19_456, 1024, 1_048_576, 'Argon2id memory cost per password hash (OWASP minimum 19 MiB); raise it on big machines'),
  ARGON2_TIME_COST: int(2, 1, 20, 'Argon2id passes per password hash'),
  ARGON2_PARALLELISM: int(1, 1, 16, 'Argon2id lanes per password hash'),
  ADMIN_AUTH_FAIL_LIMIT: int(20, 1, 100_000, 'failed authentications per client IP within ADMIN_AUTH_FAIL_WINDOW_S before every request from it is refused 429 (counted in Redis, shared by replicas)'),
  ADMIN_AUTH_FAIL_WINDOW_S: int(300, 1, 86_400, 'window of the authentication-failure limit, seconds'),
  QUEUE_BULK_BATCH: int(500, 1, 10_000, 'recipient rows changed per transaction by bulk queue actions; smaller batches hold row locks for less time'),
  EVENTS_PUBLISH: bool(true, 'run the outbox publisher that moves public trace events from PostgreSQL to the Redis stream (one replica at a time holds its lock)'),
  EVENTS_PUBLISH_INTERVAL_MS: int(500, 20, 60_000, 'how often the publisher looks for new events'),
  EVENTS_STREAM_MAXLEN: int(100_000, 100, 100_000_000, 'approximate length the Redis event stream is trimmed to (XADD MAXLEN ~)'),
  WEBHOOK_DISPATCH: bool(true, 'run the webhook dispatcher in this process (consumer group on the event stream; safe in every replica)'),
  WEBHOOK_POLL_INTERVAL_MS: int(500, 20, 60_000, 'how often due webhook deliveries are looked for; the stream read blocks at most this long'),
  WEBHOOK_TIMEOUT_MS: int(5000, 100, 60_000, 'timeout of one webhook POST, connect to last byte'),
  WEBHOOK_CONCURRENCY: int(8, 1, 256, 'webhook POSTs in flight at once in this process'),
  WEBHOOK_RETRY_MIN_MS: int(10_000, 10, 86_400_000, 'first retry delay of a failed webhook delivery; doubles per attempt'),
  WEBHOOK_RETRY_MAX_MS: int(3_600_000, 10, 86_400_000, 'longest delay between tries of one delivery'),
  WEBHOOK_MAX_ATTEMPTS: int(10, 1, 100, 'tries of one delivery before it is given up (status failed)'),
  EVENTS_RETENTION_DAYS: int(30, 1, 3650, 'message trace events older than this are deleted (hourly, in batches, one replica at a time)'),
  WEBHOOK_DELIVERY_RETENTION_DAYS: int(7, 1, 3650, 'finished webhook deliveries older than this are deleted'),
  MESSAGE_RETENTION_DAYS: int(7, 0, 3650, 'finished messages (in no mailbox, every recipient final, DSNs sent) received longer ago than this are deleted with their recipients; 0 keeps them'),
  HOUSEKEEPING_INTERVAL_MS: int(3_600_000, 1000, 86_400_000, 'how often the retention pass runs'),
  WEBHOOK_ALLOW_PRIVATE: bool(false, 'allow webhook URLs that are, or resolve to, loopback, private, link-local or other non-public addresses (a receiver inside your own network); off, an admin key cannot point the server at its own network (SSRF)'),
  WEBHOOK_DISABLE_AFTER: int(50, 1, 100_000, 'consecutive failed POSTs after which a webhook is disabled (re-enable with PATCH enabled=true)'),
});

export type Config = z.output<typeof configSchema>;
