import { hostname } from 'node:os';
import { availableCpus, bool, commonConfig, int, localPart, port, str, z } from '@hopmail/config';
import { tlsConfig } from '@hopmail/tls';
import { requireSecretsInProduction, srsConfig } from '@hopmail/sender-auth';
import { dnsClientConfig } from '@hopmail/dns-client';
import { parseAddress } from '@hopmail/mail';
import { parseDnsblSites } from './policy/dnsbl-policy.ts';

const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;
// A machine name that is no valid host name (underscores…) must not make the defaults fail.
const defaultHostname = HOSTNAME_RE.test(hostname()) ? hostname() : 'localhost';

export const configSchema = z.object({
  ...commonConfig,
  HEALTH_PORT: port(9101, 'port of /healthz, /readyz and /metrics for smtp-ingress'),
  SMTP_HOST: str('0.0.0.0', 'address the MX listener binds to (`::` for dual stack, 127.0.0.1 to keep it local)'),
  SMTP_PORT: port(2525, 'MX listener port (25 in a container; 0 picks a free port, for tests)'),
  SUBMISSION_PORT: port(2587, 'message submission listener, STARTTLS then AUTH (RFC 6409; 587 in a container); needs a certificate'),
  SUBMISSIONS_PORT: port(2465, 'message submission over implicit TLS (RFC 8314; 465 in a container); needs a certificate'),
  ...tlsConfig,
  SMTP_MX_STARTTLS: bool(true, 'offer STARTTLS on the MX listener when a certificate is configured (RFC 3207; opportunistic, never required)'),
  SMTP_MX_AUTH: bool(false, 'also offer AUTH on the MX listener (only after STARTTLS); off: port 25 never takes passwords'),
  AUTH_MAX_FAILURES_PER_CONNECTION: int(3, 1, 100, 'failed AUTH attempts in one session before 421 4.7.0 and close'),
  AUTH_MAX_FAILURES_PER_IP: int(30, 1, 1_000_000, 'failed AUTH attempts from one client address (all replicas, Redis) within AUTH_FAILURE_WINDOW_MS before AUTH is refused with 454 4.7.0'),
  AUTH_MAX_FAILURES_PER_ACCOUNT: int(10, 1, 1_000_000, 'failed AUTH attempts for one user name (all replicas, Redis) within AUTH_FAILURE_WINDOW_MS before AUTH is refused with 454 4.7.0'),
  AUTH_FAILURE_WINDOW_MS: int(900_000, 1000, 86_400_000, 'how long a failed AUTH is remembered per address and per account'),
  AUTH_DELAY_BASE_MS: int(500, 0, 60_000, 'delay before answering a failed AUTH, doubled for each failure already recorded for the address or account'),
  AUTH_DELAY_MAX_MS: int(10_000, 0, 300_000, 'longest delay before answering a failed AUTH'),
  SMTP_HOSTNAME: z
    .string()
    .regex(HOSTNAME_RE, 'a host name')
    .default(defaultHostname)
    .describe('our name in the 220 greeting, the EHLO reply and Received: headers; should be the MX host name'),
  SMTP_MAX_MESSAGE_SIZE: int(26_214_400, 1024, 536_870_912, 'largest message accepted, in bytes (advertised as SIZE; larger gets 552 5.3.4 and nothing is stored)'),
  SMTP_MAX_RECIPIENTS: int(100, 100, 100_000, 'envelope recipients per message; RFC 5321 §4.5.3.1.8 requires at least 100; past it 452 4.5.3'),
  SMTP_MAX_LINE_LENGTH: int(512, 512, 16_384, 'longest command line in octets including CRLF (RFC 5321 §4.5.3.1.4: 512); longer gets 500 5.5.2'),
  SMTP_MAX_CONNECTIONS: int(500, 1, 100_000, 'concurrent SMTP sessions this process serves; one more gets 421 4.7.0 and is closed'),
  SMTP_MAX_CONNECTIONS_PER_IP: int(100, 1, 100_000, 'concurrent sessions from one client address (per process); one more gets 421 4.7.0'),
  SMTP_IDLE_TIMEOUT_MS: int(300_000, 100, 3_600_000, 'idle time while we wait for the client before 421 4.4.2 (RFC 5321 §4.5.3.2.7: at least 5 minutes)'),
  SMTP_GREETING_DELAY_MS: int(0, 0, 30_000, 'pause before the 220 greeting; a client that talks during it gets 421 (early-talker screening, like postscreen\'s greet wait); 0 greets at once'),
  SMTP_REFUSE_EARLY_PIPELINING: bool(true, "MX listener only: a client that sends more after EHLO/HELO before our reply to it (PIPELINING not yet advertised) gets 421 4.7.0 (postscreen's pipelining test: a bot writing blind); never applied on submission"),
  SMTP_SESSION_MAX_MS: int(1_800_000, 10_000, 86_400_000, 'longest life of one SMTP session, however active (slowloris: the idle timeout restarts on every byte); past it 421 4.4.2 and close, a DATA in progress is not stored'),
  SMTP_TLS_HANDSHAKE_TIMEOUT_MS: int(30_000, 100, 300_000, 'longest TLS handshake, after STARTTLS and on the implicit-TLS listener; a client that has not finished is disconnected'),
  SMTP_MAX_BAD_COMMANDS: int(10, 1, 1000, 'syntax errors (500, 501, 502, 504 replies) one session may make before 421 4.7.0'),
  SMTP_MAX_RECEIVED_HEADERS: int(50, 1, 1000, 'a message carrying more Received: headers than this is a mail loop: 554 5.4.6'),
  SMTP_REVERSE_LOOKUP: bool(true, 'look up the client address in DNS (PTR) for the Received: header; loopback clients are never looked up'),
  SMTP_CLOSE_TIMEOUT_MS: int(20_000, 100, 600_000, 'on shutdown, how long sessions in a mail transaction may run on before 421 4.3.2; keep below SHUTDOWN_TIMEOUT_MS'),
  SMTP_ENQUEUE_TIMEOUT_MS: int(2_000, 10, 60_000, 'how long an add of the route-message job after the commit may take before it counts as failed (logged; the reconciler re-enqueues); the 250 does not wait for it'),
  SMTP_COMMITS_IN_FLIGHT: int(1, 1, 64, 'group commits (one INSERT statement each, up to 64 messages) in flight at once; the messages that finish DATA meanwhile share the next one. 1: the fewest, largest statements, the least CPU per message'),
  SMTP_ENQUEUE_WINDOW_MS: int(5, 0, 1_000, "route-message jobs start at most this often: the messages committed meanwhile share one job (and routing's batches); a message after a quiet spell goes at once. 0: only messages committed while an add is in flight share one"),
  LOCAL_PART_CASE_SENSITIVE: bool(false, 'compare local parts case-sensitively (RFC 5321 allows it; must match routing)'),
  SUBADDRESS_DELIMITER: z
    .string()
    .regex(/^(none|[^@\s"\\]?)$/, 'one character (not @, space, quote or backslash), or none')
    .default('+')
    .transform((v) => (v === 'none' ? '' : v))
    .describe('RFC 5233 subaddress delimiter (user+tag is user); `none` disables it; must match routing'),
  ALIAS_MAX_DEPTH: int(10, 1, 100, 'longest alias → alias chain before RCPT is refused as a loop (550 5.4.6); must match routing'),
  ALIAS_MAX_TARGETS: int(1000, 1, 100_000, 'most addresses one recipient may expand to before RCPT is refused (550 5.5.3); must match routing'),
  POSTMASTER_ADDRESS: z
    .string()
    .default('')
    .refine((s) => s === '' || !('error' in parseAddress(s)), 'an address (local@domain), or empty')
    .describe('where mail to <postmaster>, to postmaster@[our address] and to postmaster@ a local domain without a postmaster mailbox or alias of its own goes (RFC 5321 §4.5.1: always accepted); empty: the oldest mailbox of the cluster, as Debian makes the first user the postmaster'),
  TLSRPT_LOCAL_PART: localPart('tls-reports', "the TLS-RPT report address (RFC 8460 rua=mailto:<this>@<domain>): accepted at RCPT at every local domain even without a mailbox or alias of that name, and taken by routing; must match routing and admin-api (whose DNS doctor proposes it)"),
  DIRECTORY_CACHE_MS: int(2000, 0, 300_000, 'how long RCPT lookups (domains, mailboxes, aliases) are cached; admin changes take effect after at most this long'),
  ...srsConfig,
  ...dnsClientConfig,
  INBOUND_AUTH: bool(true, 'check SPF, DKIM, DMARC and ARC of mail arriving on the MX listener (never on submission) and add Authentication-Results:'),
  INBOUND_AUTHSERV_ID: z
    .string()
    .regex(/^[A-Za-z0-9.-]{0,253}$/, 'a host name, or empty for SMTP_HOSTNAME')
    .default('')
    .describe('authserv-id of our Authentication-Results: fields (RFC 8601 §2.5); empty: SMTP_HOSTNAME. Incoming fields claiming it are removed, so every MX of the cluster should share it'),
  INBOUND_DMARC_ENFORCE: bool(true, "default for domains without their own setting: refuse (550 5.7.1) mail failing its author domain's DMARC p=reject, mark (X-Spam-Flag: YES) p=quarantine; off: failing mail is only marked. Our own local domains' p=reject always holds"),
  INBOUND_SPF_REJECT: bool(false, 'default for domains without their own setting: refuse (550 5.7.23) mail whose SPF result is fail even when DMARC would let it through; off: SPF only feeds DMARC'),
  INBOUND_AUTH_TIMEOUT_MS: int(15_000, 100, 120_000, 'all checks of one message at most this long (keep above DNS_TIMEOUT_MS × DNS_TRIES); past it the unfinished checks are temperror and the client gets 451 4.7.x'),
  INBOUND_DKIM_MAX_SIGNATURES: int(10, 1, 100, 'DKIM-Signature fields verified per message (the topmost); more are left unverified (dkim=neutral in Authentication-Results:): bounded work'),
  INBOUND_AUTH_WORKERS: int(Math.min(2, availableCpus()), 0, 64, 'worker threads that verify incoming mail (about 1 ms of CPU per message, about 55 MiB of memory each) beside the SMTP sessions; 0: on the session thread. Default: the CPUs this process may use (its cgroup quota included), at most 2'),
  INBOUND_DNS_CACHE_MS: int(5_000, 0, 300_000, "at most how long this process keeps the inbound checks' DNS answers (and NXDOMAIN/NODATA, never failures) in front of dns-cache; each is kept no longer than its TTL (the remaining TTL dns-cache answers with; NXDOMAIN/NODATA: the SOA's negative TTL; an answer without a TTL, this long), so a changed SPF, DKIM or DMARC record is seen once its TTL has run out, as without this memo; 0: ask dns-cache every time"),
  INBOUND_DKIM_MIN_RSA_BITS: int(1024, 512, 4096, 'shortest RSA key a DKIM or ARC signature may use to pass (RFC 8301); shorter fails as too weak'),
  RSPAMD_URL: z
    .string()
    .regex(/^(|https?:\/\/\S+|unix:\/\S+)$/, 'an http(s) URL, unix:/path/to/socket, or empty')
    .default('')
    .describe("rspamd's normal worker (e.g. http://rspamd:11333, or unix:/run/rspamd/normal.sock for one on the same host or in the same pod: a connection per scan costs less than over TCP): every message is scanned at the end of DATA; empty: no content filter"),
  RSPAMD_CA_FILE: str('', 'PEM CA certificates trusted besides the system roots when RSPAMD_URL is https: (rspamd behind a TLS proxy with a private CA)'),
  RSPAMD_TIMEOUT_MS: int(5_000, 100, 120_000, 'longest wait for rspamd per message; past it the message is treated as unscanned (RSPAMD_FAIL_OPEN decides)'),
  RSPAMD_FAIL_OPEN: bool(true, 'when rspamd is down, slow or answers nonsense: accept with X-Spam-Status: unchecked (true) or answer 451 4.7.1 (false); never a 5xx'),
  RSPAMD_MAX_SIZE: int(10_485_760, 65_536, 536_870_912, 'only the first this many octets of a message are sent to rspamd (large messages are rarely spam and costly to scan)'),
  RSPAMD_OUTBOUND_SETTINGS_ID: str('', "rspamd Settings-ID sent for authenticated submission (rspamd's outbound settings); empty: rspamd picks by its User header"),
  DNSBL_SITES: str('', 'DNS block- and allowlists asked at connect, postscreen syntax: zone[=pattern][*weight], comma-separated, e.g. zen.spamhaus.org=127.0.0.[2..11]*3,bl.spamcop.net*2,list.dnswl.org=127.0.[0..255].[1..3]*-2; empty: none')
    .refine((s) => {
      try {
        parseDnsblSites(s);
        return true;
      } catch {
        return false;
      }
    }, 'zone[=a.b.c.d pattern with n, [a..b] or [a;b] octets][*weight], comma-separated'),
  DNSBL_CACHE_MS: int(60_000, 0, 3_600_000, 'how long a client\'s DNSBL/DNSWL result is kept in each smtp-ingress process (a client reconnecting for every message asks the lists once); results with a failed look-up are not kept; 0: ask at every connection'),
  DNSBL_THRESHOLD: int(1, 1, 1000, 'a client whose DNSBL score (sum of the weights of the lists naming it) reaches this gets 554 5.7.1 at RCPT'),
  DNSBL_ALLOWLIST_THRESHOLD: int(-1, -1000, 0, 'a client whose DNSBL score is at or below this (allowlists have negative weights) skips greylisting'),
  RATE_WINDOW_MS: int(60_000, 1000, 3_600_000, 'the window of the per-client rate limits below (all replicas, Redis)'),
  RATE_MAX_CONNECTIONS: int(0, 0, 1_000_000, 'new SMTP sessions per client address (IPv6: /64) per window; one more gets 421 4.7.0 (0: no limit; e.g. 60)'),
  RATE_MAX_MESSAGES: int(0, 0, 1_000_000, 'messages (MAIL FROM) per unauthenticated client per window; more get 451 4.7.1 (0: no limit; e.g. 100)'),
  RATE_MAX_RECIPIENTS: int(0, 0, 1_000_000, 'accepted recipients per unauthenticated client per window; more get 451 4.7.1 (0: no limit; e.g. 500)'),
  RATE_MAX_UNKNOWN_RECIPIENTS: int(0, 0, 1_000_000, 'unknown recipients (550 5.1.1) per client per window before a directory-harvest client gets a tarpit delay and 421 4.7.0 (0: no limit; e.g. 20)'),
  RATE_MAX_CONCURRENT_CONNECTIONS: int(0, 0, 100_000, 'concurrent SMTP sessions per client address (IPv6: /64) across every replica (Redis); one more gets 421 4.7.0 instead of the greeting (0: no limit; e.g. 20). SMTP_MAX_CONNECTIONS_PER_IP still bounds each process without Redis'),
  RATE_CONCURRENCY_LEASE_MS: int(60_000, 1000, 3_600_000, 'a replica renews its sessions\' slots every third of this; the slots of a replica that died are freed after at most this long'),
  RATE_TARPIT_MS: int(5_000, 0, 60_000, 'delay before the 421 that ends a directory-harvest session'),
  ABUSE_LISTS_REFRESH_MS: int(2_000, 100, 300_000, "how often each replica asks PostgreSQL whether the operator's allowlist/blocklist changed (admin-api /v1/abuse/lists); a change applies after at most this long"),
  GREYLIST_ENABLED: bool(false, 'greylist unauthenticated mail (RFC 6647): the first attempt of a (client /24 or /64, sender, recipient) triplet gets 451 4.7.1; on in the production overlays'),
  GREYLIST_DELAY_MS: int(300_000, 0, 86_400_000, 'how long a sender must wait before its retry passes greylisting'),
  GREYLIST_WINDOW_MS: int(86_400_000, 60_000, 7 * 86_400_000, 'a retry later than this after the first attempt starts over'),
  GREYLIST_TTL_DAYS: int(35, 1, 365, 'how long a triplet that passed (and a client network\'s pass count) is remembered after its last message'),
  GREYLIST_CACHE_MS: int(60_000, 0, 3_600_000, "how long each replica keeps a triplet Redis called known (or that just passed) and a client network it called allowlisted, answering repeat mail without a Redis round trip; the triplet's TTL in Redis is then refreshed at most this late (0: ask Redis for every RCPT)"),
  GREYLIST_CLIENT_PASSES: int(5, 0, 1_000_000, 'a client network that passed greylisting this many times skips it from then on (0: never)'),
  GREYLIST_ALLOW_NETWORKS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .refine((l) => l.every((c) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(c)), 'comma list of addresses or CIDR networks')
    .describe('client addresses or networks (comma list, CIDR) never greylisted: partners, your other MX hosts'),
}).superRefine(requireSecretsInProduction).refine((c) => c.SMTP_CLOSE_TIMEOUT_MS < c.SHUTDOWN_TIMEOUT_MS, {
  message: 'SMTP_CLOSE_TIMEOUT_MS must be below SHUTDOWN_TIMEOUT_MS, or shutdown is cut short while sessions still finish',
  path: ['SMTP_CLOSE_TIMEOUT_MS'],
});

export type Config = z.output<typeof configSchema>;
