import { bool, commonConfig, int, port, str, z } from '@hopmail/config';
import { tlsConfig } from '@hopmail/tls';

export const configSchema = z.object({
  ...commonConfig,
  HEALTH_PORT: port(9108, 'port of /healthz, /readyz and /metrics for this service'),
  IMAP_HOST: str('0.0.0.0', 'address the IMAP listeners bind; 127.0.0.1 to keep them local'),
  IMAP_PORT: port(1143, 'IMAP with STARTTLS (RFC 9051 §6.2.1; 143 in a container); 0 lets the OS choose (tests)'),
  IMAPS_PORT: port(1993, 'IMAP over implicit TLS (RFC 8314; 993 in a container); needs a certificate; 0 lets the OS choose (tests)'),
  ...tlsConfig,
  TLS_HANDSHAKE_TIMEOUT_MS: int(30_000, 1_000, 600_000, 'a TLS handshake (port 993, or after STARTTLS) must finish within this time or the connection is closed'),
  ALLOW_PLAINTEXT_AUTH: bool(false, 'allow LOGIN and AUTHENTICATE PLAIN before TLS on IMAP_PORT; local development only (refused when NODE_ENV=production): passwords then cross the network in clear'),
  IDLE_TIMEOUT_MS: int(1_800_000, 1_000, 86_400_000, 'autologout after this much silence, IDLE included (clients re-IDLE every 29 minutes, RFC 2177); RFC 9051 §5.4 asks for at least 30 minutes, lower only for tests'),
  MAX_CONNECTIONS: int(5_000, 1, 1_000_000, 'concurrent IMAP connections per replica (IDLE sessions hold no PostgreSQL connection)'),
  MAX_CONNECTIONS_PER_IP: int(50, 1, 1_000_000, 'concurrent connections per client address per replica; raise for large NATs'),
  MAX_LINE_OCTETS: int(65_536, 1_000, 1_048_576, 'longest command line (text between literals) including CRLF; RFC 7162 §4 asks for at least 8192'),
  MAX_LITERAL_OCTETS: int(52_428_800, 1_024, 1_073_741_824, 'largest literal (an APPENDed message); larger ones get [TOOBIG]'),
  MAX_BAD_COMMANDS: int(20, 1, 1_000, 'BAD replies before the connection is closed'),
  MAX_AUTH_FAILURES_PER_CONNECTION: int(3, 1, 100, 'failed logins before the connection is closed'),
  AUTH_FAILURE_DELAY_MS: int(1_000, 0, 60_000, 'delay before a failed-login reply, multiplied by the failures on the connection'),
  AUTH_FAILURE_WINDOW_SECONDS: int(900, 1, 86_400, 'window of the per-account and per-address failure counters in Redis (shared with pop3)'),
  AUTH_MAX_FAILURES_PER_ACCOUNT: int(10, 1, 100_000, 'failed logins per account within the window before every login to it is refused, across replicas and protocols'),
  AUTH_MAX_FAILURES_PER_IP: int(30, 1, 1_000_000, 'failed logins per client address within the window before its logins are refused, across replicas and protocols'),
  RATE_LIMIT_TIMEOUT_MS: int(500, 10, 10_000, 'how long a login waits for Redis before going on without the cross-replica counters'),
  FETCH_BATCH: int(200, 1, 10_000, 'messages whose metadata one FETCH/STORE round trip to PostgreSQL reads; bounds memory per command'),
  FETCH_READ_AHEAD: int(2, 1, 16, 'FETCH batches read from PostgreSQL (each on its own pooled connection) while the one before them is written to the client; memory per FETCH is up to this many batches and one'),
  FETCH_CHUNK_BYTES: int(262_144, 1_024, 16_777_216, 'bytes read from PostgreSQL per round trip when streaming a whole message (FETCH BODY[]); bounds memory per session whatever the message size'),
  SEARCH_INDEX_INTERVAL_MS: int(1_000, 0, 3_600_000, 'pause of the background SEARCH indexer when its queue is empty (new mail is indexed off the delivery path, in batches of SEARCH_INDEX_BATCH); 0: this replica does not index (another one must: a SEARCH still finds mail not indexed, reading its stored bytes, more slowly)'),
  SEARCH_INDEX_BATCH: int(200, 1, 10_000, 'messages the background SEARCH indexer takes per statement'),
  SEARCH_TIMEOUT_MS: int(10_000, 100, 600_000, 'statement_timeout of one SEARCH in PostgreSQL; a slower search answers NO'),
})
  .refine((c) => c.NODE_ENV !== 'production' || !c.ALLOW_PLAINTEXT_AUTH, {
    message: 'ALLOW_PLAINTEXT_AUTH=true is for local development only: passwords would cross the network in clear',
    path: ['ALLOW_PLAINTEXT_AUTH'],
  });

export type Config = z.output<typeof configSchema>;
