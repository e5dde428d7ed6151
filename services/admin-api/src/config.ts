import { hostname } from 'node:os';
import { bool, commonConfig, int, localPart, port, str, z } from '@hopmail/config';
import { dnsClientConfig } from '@hopmail/dns-client';
import { kekConfig, requireSecretsInProduction } from '@hopmail/sender-auth';

const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;
const defaultHostname = HOSTNAME_RE.test(hostname()) ? hostname() : 'localhost';

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
  CONSOLE_DIR: str('', 'directory of the built web console (index.html and assets/); empty: web/dist beside this service, where `pnpm build` and `pnpm start` put it'),
  CONSOLE_SESSION_IDLE_S: int(1800, 60, 86_400, 'a console session ends after this many seconds without a request; shorter on shared machines'),
  CONSOLE_SESSION_MAX_S: int(43_200, 300, 2_592_000, 'a console session ends this many seconds after sign-in, whatever happens'),
  CONSOLE_COOKIE_SECURE: z
    .enum(['auto', 'always', 'never'])
    .default('auto')
    .describe("the session cookie's Secure flag: auto sets it when the request came over TLS (set Fastify's proxy trust or use always behind a TLS proxy); never only for plain-HTTP development off loopback"),
  ...kekConfig,
  ...dnsClientConfig,
  MAIL_HOSTNAME: z
    .string()
    .regex(HOSTNAME_RE, 'a host name')
    .default(defaultHostname)
    .describe("this cluster's public MX host name: the DNS doctor expects every domain's MX to point at it (and SPF's `mx` to cover it)"),
  DNS_DOCTOR_SPF: str('v=spf1 mx -all', 'the SPF record the DNS doctor proposes; a published one passes when it has each of its terms (more are fine: other senders of the domain)'),
  DNS_DOCTOR_DMARC: str('v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}', 'the DMARC record the DNS doctor proposes ({domain} is the domain); a published one passes when its p= is as strict or stricter'),
  DNS_DOCTOR_TLSRPT: str('v=TLSRPTv1; rua=mailto:{tlsrpt}@{domain}', 'the TLS-RPT record the DNS doctor proposes ({domain} is the domain, {tlsrpt} is TLSRPT_LOCAL_PART: the address smtp-ingress and routing take reports at); point rua elsewhere to have a report service read them'),
  TLSRPT_LOCAL_PART: localPart('tls-reports', 'the TLS-RPT report address at each of our domains ({tlsrpt} in DNS_DOCTOR_TLSRPT): mail to it is taken by routing as a report; must match smtp-ingress and routing'),
  MTA_STS_MODE: z.enum(['testing', 'enforce', 'none']).default('testing').describe('mode of the MTA-STS policy served for every local domain at /.well-known/mta-sts.txt: start with testing, read the TLS-RPT reports, then enforce'),
  MTA_STS_MAX_AGE: int(604_800, 86_400, 31_557_600, 'max_age of our MTA-STS policy in seconds (senders cache it this long; RFC 8461 recommends weeks)'),
  TLSRPT_MAX_BYTES: int(5_242_880, 1024, 52_428_800, 'largest TLS-RPT report accepted at POST /tlsrpt, as sent and uncompressed (gzip or JSON)'),
  DKIM_GRACE_DAYS: int(7, 0, 365, 'days an older DKIM key stays valid after a newer key of its algorithm is activated: keep its record published for mail in transit'),
  WEBHOOK_ALLOW_PRIVATE: bool(false, 'allow webhook URLs whose host is a loopback, private, link-local or other non-public address (a receiver inside your own network); off, an admin key cannot point the server at its own network (SSRF). Set the housekeeper\'s alike: it checks the address of every connection'),
  RSPAMD_CONTROLLER_URL: z
    .string()
    .regex(/^(|https?:\/\/\S+)$/, 'an http(s) URL or empty')
    .default('')
    .describe("rspamd's controller worker (e.g. http://rspamd:11334): POST /v1/messages/{id}/report trains its Bayes classifier; empty: reports answer 503"),
  RSPAMD_CA_FILE: str('', 'PEM CA certificates trusted besides the system roots when RSPAMD_CONTROLLER_URL is https: (rspamd behind a TLS proxy with a private CA)'),
  RSPAMD_PASSWORD: str('', "rspamd controller's enable_password, when it has one (learning is a privileged command)"),
  RSPAMD_LEARN_TIMEOUT_MS: int(10_000, 100, 120_000, 'longest wait for rspamd to learn one reported message'),
}).superRefine(requireSecretsInProduction);

export type Config = z.output<typeof configSchema>;
