import { bool, commonConfig, int, port, str, z } from '@hopmail/config';
import { dnsClientConfig } from '@hopmail/dns-client';
import { isIP } from 'node:net';
import { ADDRESS_ORDERS } from './policy/address-order.ts';
import { kekConfig, requireSecretsInProduction, srsConfig } from '@hopmail/sender-auth';

const hostPort = /^[^\s:]+:\d{1,5}$/;

export const configSchema = z.object({
  ...commonConfig,
  HEALTH_PORT: port(9103, 'port of /healthz, /readyz and /metrics'),
  RELAY_HOSTNAME: str('localhost', 'name sent in EHLO and used as Reporting-MTA in DSNs; must be this cluster\'s public MX name in production. An MX host equal to it is a mail loop'),
  RELAY_PORT: port(25, 'remote SMTP port; tests point it at a high port on 127.0.0.x'),
  RELAY_CONCURRENCY: int(16, 1, 1000, 'deliver-remote jobs this process runs at once'),
  ...dnsClientConfig,
  RELAY_ALLOW_LOOPBACK_MX: bool(false, 'allow MX addresses on loopback or this host (tests run fake MX servers on 127.0.0.x). Off in production: such an MX is a mail loop, bounced 5.4.6'),
  RELAY_OWN_ADDRESSES: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .describe('extra addresses of this cluster (load balancer, NAT) an MX must not point at'),
  RELAY_CONNECT_TIMEOUT_MS: int(30_000, 100, 600_000, 'TCP connect timeout per MX host, for the race over its addresses (happy eyeballs)'),
  RELAY_SOURCE_ADDRESS: z.string().default('').refine((s) => s === '' || isIP(s) === 4, 'an IPv4 address of this host, or empty').describe('IPv4 address outbound SMTP connections leave from (the one your PTR, SPF and HELO name agree on); empty: the system chooses'),
  RELAY_SOURCE_ADDRESS6: z.string().default('').refine((s) => s === '' || isIP(s) === 6, 'an IPv6 address of this host, or empty').describe('IPv6 address outbound SMTP connections leave from; empty: the system chooses'),
  RELAY_ADDRESS_ORDER: z.enum(ADDRESS_ORDERS).default('ipv6').describe('order of an MX host\'s addresses: ipv6 / ipv4 interleave the families starting with that one (RFC 8305), ipv6-first / ipv4-first try all of one family first, ipv6-only / ipv4-only use one family (a host without IPv6 or IPv4 connectivity)'),
  RELAY_CONNECT_ATTEMPT_DELAY_MS: int(250, 10, 2000, 'happy eyeballs: start the next address of an MX this long after the last one if it has not connected yet (RFC 8305 §5: 250 ms)'),
  RELAY_GREETING_TIMEOUT_MS: int(60_000, 100, 600_000, 'time for the 220 greeting (RFC 5321 §4.5.3.2.1 suggests 5 minutes)'),
  RELAY_SOCKET_TIMEOUT_MS: int(300_000, 100, 3_600_000, 'idle time in a session before giving up on the remote (RFC 5321: 10 minutes after DATA end)'),
  RELAY_TLS_VERIFY: bool(false, 'verify certificates of MX hosts on STARTTLS. Opportunistic TLS (RFC 7435) accepts self-signed certificates; failing here would only force plaintext'),
  RELAY_TLS_CA_FILE: str('', 'PEM file of CA certificates trusted, besides the system roots, for MTA-STS policy hosts and MX certificates (a private PKI; tests use a test CA)'),
  RELAY_DANE: bool(true, 'honour DANE (RFC 7672): DNSSEC-validated TLSA records of an MX host (the AD bit from dns-cache, which passes it only from DNS_VALIDATING_UPSTREAMS) make verified TLS mandatory'),
  RELAY_MTA_STS: bool(true, 'discover and honour MTA-STS policies (RFC 8461) of destination domains; the operator\'s TLS policy table overrides them either way'),
  RELAY_MTA_STS_PORT: port(443, 'HTTPS port of mta-sts.<domain> policy hosts; tests point it at a local test server'),
  RELAY_MTA_STS_TIMEOUT_MS: int(10_000, 100, 120_000, 'deadline for fetching one MTA-STS policy; on failure a cached policy is kept'),
  RELAY_RETRY_SCHEDULE: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean).map(Number))
    .refine((a) => a.every((n) => Number.isInteger(n) && n >= 0), 'comma-separated non-negative milliseconds')
    .describe('explicit retry delays in ms (the last one repeats); empty: RELAY_RETRY_MIN_MS doubling up to RELAY_RETRY_MAX_MS'),
  RELAY_RETRY_MIN_MS: int(300_000, 0, 86_400_000, 'first retry delay (Postfix minimal_backoff_time: 300s)'),
  RELAY_RETRY_MAX_MS: int(3_600_000, 0, 86_400_000, 'longest delay between tries (Postfix maximal_backoff_time: 4000s)'),
  RELAY_MAX_AGE_MS: int(5 * 86_400_000, 1000, 30 * 86_400_000, 'give up and bounce (4.4.7) after this time in the queue (Postfix maximal_queue_lifetime: 5d)'),
  RELAY_DELAY_WARNING_MS: int(4 * 3_600_000, 0, 30 * 86_400_000, 'send a "delayed" DSN once after this time; 0 turns delay warnings off (Postfix delay_warning_time)'),
  RELAY_DSN_RETURN_MAX_BYTES: int(50_000, 0, 100 * 1024 * 1024, 'largest message a failure DSN with RET=FULL returns whole (message/rfc822); a larger one is returned as its headers only (text/rfc822-headers), and the DSN says so (Postfix bounce_size_limit: 50000). 0 always returns the headers only'),
  RELAY_SCHEDULER_INTERVAL_MS: int(5000, 20, 600_000, 'how often one replica scans PostgreSQL for due deliveries and unsent DSNs'),
  RELAY_SCHEDULER_BATCH: int(500, 1, 100_000, 'due (message, domain) pairs handled per scan'),
  RELAY_MAX_CONNECTIONS_PER_HOST: int(10, 1, 1000, 'simultaneous connections to one MX host across all replicas (Postfix default_destination_concurrency_limit: 20)'),
  RELAY_RATE_PER_MINUTE: int(0, 0, 1_000_000, 'messages per minute to one MX host across all replicas; 0 is unlimited'),
  RELAY_THROTTLE_DELAY_MS: int(2000, 10, 3_600_000, 'when a host is at its limit, try the delivery again after this long (not counted as an attempt)'),
  RELAY_LEASE_TTL_MS: int(60_000, 1000, 3_600_000, 'Redis connection-slot lease lifetime; a dead process frees its slots after this'),
  RELAY_POOL_IDLE_MS: int(5000, 0, 300_000, 'keep an idle connection to an MX this long for the next message (0: no reuse)'),
  RELAY_POOL_MAX_MESSAGES: int(100, 1, 100_000, 'messages sent over one connection before it is closed'),
  RELAY_SMARTHOST: z.string().regex(hostPort).or(z.literal('')).default('').describe('host:port to send all remote mail through instead of MX lookup (empty: direct delivery)'),
  RELAY_SMARTHOST_DOMAINS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean))
    .describe('when set, only these recipient domains go through RELAY_SMARTHOST; the rest are delivered directly'),
  RELAY_SMARTHOST_USER: str('', 'AUTH user for the smarthost (empty: no AUTH)'),
  RELAY_SMARTHOST_PASSWORD: str('', 'AUTH password for the smarthost; never logged'),
  RELAY_SMARTHOST_REQUIRE_TLS: bool(true, 'refuse to AUTH to the smarthost without STARTTLS'),
  RELAY_WORKER_LOCK_MS: int(30_000, 500, 600_000, 'BullMQ lock duration: how soon a job of a dead worker is handed to another (stalled check)'),
  RELAY_TEST_HOLD_AFTER_DATA_MS: int(0, 0, 60_000, 'test only: wait this long after the remote reply to DATA before recording it (crash-window tests)'),
  ...kekConfig,
  ...srsConfig,
}).superRefine(requireSecretsInProduction);

export type Config = z.output<typeof configSchema>;
