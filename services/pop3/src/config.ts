import { bool, commonConfig, int, port, str, z } from '@hopmail/config';
import { tlsConfig } from '@hopmail/tls';

export const configSchema = z.object({
  ...commonConfig,
  HEALTH_PORT: port(9105, 'port of /healthz, /readyz and /metrics for this service'),
  POP3_HOST: str('0.0.0.0', 'address the POP3 listener binds; 127.0.0.1 to keep it local'),
  POP3_PORT: port(1110, 'POP3 listener with STLS (RFC 2595; 110 in a container); 0 lets the OS choose (tests)'),
  POP3S_PORT: port(1995, 'POP3 over implicit TLS (RFC 8314; 995 in a container); needs a certificate; 0 lets the OS choose (tests)'),
  ...tlsConfig,
  TLS_HANDSHAKE_TIMEOUT_MS: int(30_000, 1_000, 600_000, 'a TLS handshake (port 995, or after STLS) must finish within this time or the connection is closed'),
  ALLOW_PLAINTEXT_AUTH: bool(false, 'allow USER/PASS and AUTH PLAIN before TLS on POP3_PORT; local development only (refused when NODE_ENV=production): passwords then cross the network in clear'),
  IDLE_TIMEOUT_MS: int(600_000, 1_000, 86_400_000, 'autologout after this much silence; RFC 1939 §3 asks for at least 10 minutes, lower only for tests'),
  MAX_CONNECTIONS: int(1_000, 1, 100_000, 'concurrent POP3 connections per replica; each logged-in session holds one PostgreSQL connection'),
  MAX_CONNECTIONS_PER_IP: int(20, 1, 100_000, 'concurrent connections per client address per replica; raise for large NATs'),
  MAX_COMMAND_OCTETS: int(255, 255, 8_192, 'longest command line including CRLF; RFC 2449 §4 requires at least 255'),
  MAX_AUTH_LINE_OCTETS: int(2_048, 255, 65_536, 'longest SASL response line (AUTH PLAIN after "+ "), RFC 5034 §4'),
  MAX_BAD_COMMANDS: int(10, 1, 1_000, 'unknown commands and overlong lines before the connection is closed'),
  MAX_AUTH_FAILURES_PER_CONNECTION: int(3, 1, 100, 'failed logins before the connection is closed'),
  AUTH_FAILURE_DELAY_MS: int(1_000, 0, 60_000, 'delay before a failed-login reply, multiplied by the failures on the connection'),
  AUTH_FAILURE_WINDOW_SECONDS: int(900, 1, 86_400, 'window of the per-account and per-address failure counters in Redis'),
  AUTH_MAX_FAILURES_PER_ACCOUNT: int(10, 1, 100_000, 'failed logins per account within the window before every login to it is refused, across replicas'),
  AUTH_MAX_FAILURES_PER_IP: int(30, 1, 1_000_000, 'failed logins per client address within the window before its logins are refused, across replicas'),
  RATE_LIMIT_TIMEOUT_MS: int(500, 10, 10_000, 'how long a login waits for Redis before going on without the cross-replica counters'),
  RETR_CHUNK_BYTES: int(131_072, 1_024, 16_777_216, 'bytes read from PostgreSQL per round trip when streaming RETR/TOP; bounds per-session memory'),
  RETR_READ_AHEAD_BYTES: int(524_288, 0, 67_108_864, 'bytes of the next messages each session reads ahead of a client reading in order (in batches growing to half of it), so that RETR answers from memory instead of waiting for PostgreSQL; memory per session reading (up to this plus two RETR_CHUNK_BYTES: a chunk being sent, and the next reply built ahead); 0 reads one message at a time'),
})
  .refine((c) => c.NODE_ENV !== 'production' || !c.ALLOW_PLAINTEXT_AUTH, {
    message: 'ALLOW_PLAINTEXT_AUTH=true is for local development only: passwords would cross the network in clear',
    path: ['ALLOW_PLAINTEXT_AUTH'],
  });
// NODE_ENV=production without TLS_CERT_FILE/TLS_KEY_FILE is refused at start (runService, exit
// 78) rather than here, so that `--print-config` still shows what a deployment would run.

export type Config = z.output<typeof configSchema>;
