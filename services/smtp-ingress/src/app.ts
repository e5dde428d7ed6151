import { readFileSync } from 'node:fs';
import { PgDirectory } from '@hopmail/db';
import { createProducer } from '@hopmail/queue';
import type { App, ServiceDeps } from '@hopmail/service-kit';
import { certificateStoreFromConfig, type CertificateStore } from '@hopmail/tls';
import type { Logger } from 'pino';
import { createSmtpListener, type ListenerSpec, type SmtpListener } from './adapters/smtp-listener.ts';
import { createAccounts } from './adapters/accounts.ts';
import { createAuthLimiter } from './adapters/auth-limiter.ts';
import { createMessageStore } from './adapters/store.ts';
import { createInboundPolicies } from './adapters/inbound-policies.ts';
import { createMailAuthenticator, createSpfCheck } from './adapters/mail-authenticator.ts';
import { createWorkerAuthenticator } from './adapters/auth-workers.ts';
import type { Authenticator } from './ports.ts';
import { createRspamdFilter } from './adapters/rspamd.ts';
import { createGreylist } from './adapters/greylist.ts';
import { networkList } from './policy/greylist-policy.ts';
import { createDnsblLookup } from './adapters/dnsbl.ts';
import { createRateLimiter } from './adapters/rate-limiter.ts';
import { createConnectionSlots } from './adapters/connection-slots.ts';
import { createAbuseListCache } from './adapters/abuse-lists.ts';
import { createRefusalLog } from './adapters/refusal-log.ts';
import { createAbuseStats } from './adapters/abuse-stats.ts';
import { parseDnsblSites } from './policy/dnsbl-policy.ts';
import { createDnsClient } from '@hopmail/dns-client';
import type { Config } from './config.ts';
import { EVENTS } from './events.ts';
import { createIngress, type Ingress } from './ingress.ts';
import { createMetrics } from './metrics.ts';
import { DEVELOPMENT_SRS_SECRET } from '@hopmail/sender-auth';

/**
 * What runService() builds for smtp-ingress (main.ts): PostgreSQL, BullMQ's Redis, and the
 * certificate store (production refuses to start without one: submission takes passwords
 * only over TLS).
 */
export const NEEDS = {
  postgres: true,
  redis: 'queue',
  certificates: (config: Config) => ({ selfSignedNames: selfSignedNames(config) }),
} as const;

export type AppDeps = ServiceDeps<Config, typeof NEEDS> & {
  /** Waits before failed AUTH replies (tests). */
  sleep?: (ms: number) => Promise<void>;
  /** The clock of greylisting and SRS (tests). */
  now?: () => Date;
};

export interface IngressApp extends App {
  /** Bound port of each listener by name (`mx`, `submission`, `submissions`), known after start(). */
  ports: Record<string, number>;
  ingress: Ingress;
  certificates: CertificateStore | null;
}

/**
 * Listeners this process runs. Without a certificate (development only) there is no
 * submission at all: passwords never travel in clear.
 */
export function listenerSpecs(config: Config, tls: boolean): ListenerSpec[] {
  const mxTls = tls && config.SMTP_MX_STARTTLS;
  const specs: ListenerSpec[] = [
    { name: 'mx', role: 'mx', host: config.SMTP_HOST, port: config.SMTP_PORT, tls: mxTls ? 'starttls' : 'none', auth: mxTls && config.SMTP_MX_AUTH, requireAuth: false },
  ];
  if (tls) {
    specs.push(
      { name: 'submission', role: 'submission', host: config.SMTP_HOST, port: config.SUBMISSION_PORT, tls: 'starttls', auth: true, requireAuth: true },
      { name: 'submissions', role: 'submissions', host: config.SMTP_HOST, port: config.SUBMISSIONS_PORT, tls: 'implicit', auth: true, requireAuth: true },
    );
  }
  return specs;
}

/**
 * The certificate store for this config, as runService() builds it (null: no TLS,
 * development only). Throws when NODE_ENV=production has no certificate or a file cannot
 * be read. For tests that call createApp() themselves.
 */
export function certificatesFor(config: Config, logger: Logger): CertificateStore | null {
  return certificateStoreFromConfig(config, logger, { selfSignedNames: selfSignedNames(config) });
}

/** Names of the development self-signed certificate (when TLS_CERT_FILE names files that do not exist yet). */
export function selfSignedNames(config: Config): string[] {
  return [...new Set([config.SMTP_HOSTNAME, 'localhost', '127.0.0.1', '::1'])];
}

/** Inbound SPF/DKIM/DMARC/ARC (issue 12): on INBOUND_AUTH_WORKERS threads, or on the session thread with 0. */
function createAuthenticator(config: Config, logger: Logger): Authenticator & { close?: () => Promise<void> } {
  const options = {
    authservId: config.INBOUND_AUTHSERV_ID || config.SMTP_HOSTNAME,
    timeoutMs: config.INBOUND_AUTH_TIMEOUT_MS,
    maxSignatures: config.INBOUND_DKIM_MAX_SIGNATURES,
    minRsaBits: config.INBOUND_DKIM_MIN_RSA_BITS,
    dnsCacheMs: config.INBOUND_DNS_CACHE_MS,
  };
  const dns = { servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: config.DNS_TRIES };
  if (config.INBOUND_AUTH_WORKERS === 0) return createMailAuthenticator({ ...options, dns: createDnsClient(dns) });
  return createWorkerAuthenticator({
    options,
    dns,
    workers: config.INBOUND_AUTH_WORKERS,
    onWorkerError: (err) => logger.error({ event: EVENTS.mailAuthWorkerFailed, err }, 'authentication worker failed; replaced'),
  });
}

export function createApp(deps: AppDeps): IngressApp {
  const { config, logger, certificates } = deps;
  const producer = createProducer('route-message', deps.redis, config.REDIS_PREFIX);
  const directory = new PgDirectory(deps.pool, { localPartCaseSensitive: config.LOCAL_PART_CASE_SENSITIVE, cacheMs: config.DIRECTORY_CACHE_MS });
  if (!config.SRS_SECRET) logger.warn({ event: EVENTS.developmentSecrets, srsSecret: 'development' }, 'SRS_SECRET unset: SRS addresses are checked with the public development secret (never in production)');
  if (!certificates) logger.warn({ event: EVENTS.tlsDisabled }, 'no certificate: STARTTLS, AUTH and the submission listeners are off (development only)');
  if (config.RSPAMD_URL) logger.info({ event: EVENTS.contentFilter, url: config.RSPAMD_URL, failOpen: config.RSPAMD_FAIL_OPEN, timeoutMs: config.RSPAMD_TIMEOUT_MS }, 'content filter: rspamd');
  else logger.info({ event: EVENTS.contentFilter, url: null }, 'content filter: none (RSPAMD_URL unset), messages are not scanned');
  const contentFilter = config.RSPAMD_URL
    ? createRspamdFilter({ url: config.RSPAMD_URL, maxSize: config.RSPAMD_MAX_SIZE, outboundSettingsId: config.RSPAMD_OUTBOUND_SETTINGS_ID || undefined, ...(config.RSPAMD_CA_FILE ? { ca: readFileSync(config.RSPAMD_CA_FILE, 'utf8') } : {}) })
    : null;
  const dnsblSites = parseDnsblSites(config.DNSBL_SITES);
  const metrics = createMetrics(deps.registry);
  const store = createMessageStore({
    pool: deps.pool,
    producer,
    enqueueTimeoutMs: config.SMTP_ENQUEUE_TIMEOUT_MS,
    enqueueWindowMs: config.SMTP_ENQUEUE_WINDOW_MS,
    commitsInFlight: config.SMTP_COMMITS_IN_FLIGHT,
    onEnqueueFailed: (msgId, err) => {
      metrics.enqueueFailures.inc();
      logger.warn({ event: EVENTS.enqueueFailed, msgId, err }, 'message committed but route-message job not added; the reconciler will re-enqueue it');
    },
  });
  const dnsbl = dnsblSites.length
    ? createDnsblLookup({
        dns: createDnsClient({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: config.DNS_TRIES }),
        sites: dnsblSites,
        cacheMs: config.DNSBL_CACHE_MS,
        onProblem: (site, problem) => logger.warn({ event: EVENTS.dnsblProblem, zone: site.zone, problem }, 'DNS list problem; counted as not listed'),
        onListed: (site) => metrics.dnsblListings.inc({ zone: site.zone }),
      })
    : null;
  const resolve = {
    localPartCaseSensitive: config.LOCAL_PART_CASE_SENSITIVE,
    subaddressDelimiter: config.SUBADDRESS_DELIMITER,
    maxDepth: config.ALIAS_MAX_DEPTH,
    maxTargets: config.ALIAS_MAX_TARGETS,
  };
  const authenticator = config.INBOUND_AUTH ? createAuthenticator(config, logger) : null;
  const connectionSlots = config.RATE_MAX_CONCURRENT_CONNECTIONS
    ? createConnectionSlots({
        redis: deps.redis,
        prefix: config.REDIS_PREFIX,
        leaseMs: config.RATE_CONCURRENCY_LEASE_MS,
        onError: (err) => logger.warn({ event: EVENTS.rateLimiterFailed, err }, 'connection slots unavailable (Redis); concurrent connections are not limited across replicas'),
      })
    : null;
  const abuseLists = createAbuseListCache({
    pool: deps.pool,
    refreshMs: config.ABUSE_LISTS_REFRESH_MS,
    onError: (err) => logger.warn({ event: EVENTS.abuseListsFailed, err }, 'allowlist/blocklist not refreshed (PostgreSQL); the lists last loaded stay in force'),
    onLoaded: (entries) => logger.info({ event: EVENTS.abuseLists, entries }, 'allowlist/blocklist loaded'),
  });
  const ingress = createIngress({
    options: {
      hostname: config.SMTP_HOSTNAME,
      maxConnectionsPerIp: config.SMTP_MAX_CONNECTIONS_PER_IP,
      maxMessageSize: config.SMTP_MAX_MESSAGE_SIZE,
      maxReceivedHeaders: config.SMTP_MAX_RECEIVED_HEADERS,
      tlsReportLocalPart: config.TLSRPT_LOCAL_PART,
      resolve,
      srs: { secret: config.SRS_SECRET || DEVELOPMENT_SRS_SECRET, previous: config.SRS_PREVIOUS_SECRETS, maxAgeDays: config.SRS_MAX_AGE_DAYS },
      auth: {
        maxPerIp: config.AUTH_MAX_FAILURES_PER_IP,
        maxPerAccount: config.AUTH_MAX_FAILURES_PER_ACCOUNT,
        baseDelayMs: config.AUTH_DELAY_BASE_MS,
        maxDelayMs: config.AUTH_DELAY_MAX_MS,
      },
      spam: { timeoutMs: config.RSPAMD_TIMEOUT_MS, failOpen: config.RSPAMD_FAIL_OPEN },
      rate: {
        connections: config.RATE_MAX_CONNECTIONS,
        messages: config.RATE_MAX_MESSAGES,
        recipients: config.RATE_MAX_RECIPIENTS,
        unknownRecipients: config.RATE_MAX_UNKNOWN_RECIPIENTS,
        tarpitMs: config.RATE_TARPIT_MS,
        concurrent: config.RATE_MAX_CONCURRENT_CONNECTIONS,
      },
      dnsbl: dnsbl ? { threshold: config.DNSBL_THRESHOLD, allowlistThreshold: config.DNSBL_ALLOWLIST_THRESHOLD } : undefined,
      greylist: config.GREYLIST_ENABLED ? { allow: networkList(config.GREYLIST_ALLOW_NETWORKS) } : undefined,
    },
    contentFilter,
    dnsbl,
    abuseStats: createAbuseStats({ redis: deps.redis, prefix: config.REDIS_PREFIX, onError: (err) => logger.debug({ err }, 'abuse statistics not counted (Redis)') }),
    rateLimiter:
      config.RATE_MAX_CONNECTIONS || config.RATE_MAX_MESSAGES || config.RATE_MAX_RECIPIENTS || config.RATE_MAX_UNKNOWN_RECIPIENTS
        ? createRateLimiter({
            redis: deps.redis,
            prefix: config.REDIS_PREFIX,
            windowMs: config.RATE_WINDOW_MS,
            onError: (err) => logger.warn({ event: EVENTS.rateLimiterFailed, err }, 'rate counters unavailable (Redis); the per-client limits are not applied'),
          })
        : null,
    connectionSlots,
    abuseLists,
    refusalLog: createRefusalLog({ pool: deps.pool, onError: (err) => logger.warn({ event: EVENTS.refusalLogFailed, err }, 'refused attempt not recorded for the trace (PostgreSQL)') }),
    greylist: config.GREYLIST_ENABLED
      ? createGreylist({
          redis: deps.redis,
          prefix: config.REDIS_PREFIX,
          delayMs: config.GREYLIST_DELAY_MS,
          windowMs: config.GREYLIST_WINDOW_MS,
          ttlMs: config.GREYLIST_TTL_DAYS * 86_400_000,
          clientPasses: config.GREYLIST_CLIENT_PASSES,
          cacheMs: config.GREYLIST_CACHE_MS,
          onError: (err) => logger.warn({ event: EVENTS.greylistFailed, err }, 'greylist state unavailable (Redis); the recipient is let through'),
        })
      : null,
    // Greylisting's exemption for allowlisted sender domains with SPF pass, through dns-cache.
    spfCheck: config.GREYLIST_ENABLED
      ? createSpfCheck({
          dns: createDnsClient({ servers: config.DNS_SERVERS, timeoutMs: config.DNS_TIMEOUT_MS, tries: config.DNS_TRIES }),
          authservId: config.INBOUND_AUTHSERV_ID || config.SMTP_HOSTNAME,
          timeoutMs: config.INBOUND_AUTH_TIMEOUT_MS,
          dnsCacheMs: config.INBOUND_DNS_CACHE_MS,
        })
      : null,
    now: deps.now,
    directory,
    postmaster: config.POSTMASTER_ADDRESS ? async () => config.POSTMASTER_ADDRESS : async () => (await directory.firstMailbox())?.address ?? null,
    accounts: createAccounts({ pool: deps.pool, directory, resolve }),
    limiter: createAuthLimiter({
      redis: deps.redis,
      prefix: config.REDIS_PREFIX,
      windowMs: config.AUTH_FAILURE_WINDOW_MS,
      onError: (err) => logger.warn({ event: EVENTS.authLimiterFailed, err }, 'failed-AUTH counters unavailable (Redis); logins go on unthrottled across replicas'),
    }),
    sleep: deps.sleep,
    ...(authenticator
      ? {
          authenticator,
          inboundPolicies: createInboundPolicies({
            pool: deps.pool,
            defaults: { dmarcEnforce: config.INBOUND_DMARC_ENFORCE, spfReject: config.INBOUND_SPF_REJECT },
            cacheMs: config.DIRECTORY_CACHE_MS,
          }),
        }
      : {}),
    store,
    logger,
    metrics,
  });
  const limits = {
    hostname: config.SMTP_HOSTNAME,
    maxMessageSize: config.SMTP_MAX_MESSAGE_SIZE,
    maxRecipients: config.SMTP_MAX_RECIPIENTS,
    maxLineLength: config.SMTP_MAX_LINE_LENGTH,
    maxConnections: config.SMTP_MAX_CONNECTIONS,
    maxBadCommands: config.SMTP_MAX_BAD_COMMANDS,
    idleTimeoutMs: config.SMTP_IDLE_TIMEOUT_MS,
    closeTimeoutMs: config.SMTP_CLOSE_TIMEOUT_MS,
    greetingDelayMs: config.SMTP_GREETING_DELAY_MS,
    refuseEarlyPipelining: config.SMTP_REFUSE_EARLY_PIPELINING,
    sessionMaxMs: config.SMTP_SESSION_MAX_MS,
    tlsHandshakeTimeoutMs: config.SMTP_TLS_HANDSHAKE_TIMEOUT_MS,
    reverseLookup: config.SMTP_REVERSE_LOOKUP,
    maxAuthFailures: config.AUTH_MAX_FAILURES_PER_CONNECTION,
  };
  const specs = listenerSpecs(config, certificates !== null);
  const listeners: SmtpListener[] = specs.map((spec) => createSmtpListener({ spec, limits, ingress, logger, certificates }));
  const ports: Record<string, number> = {};

  return {
    ports,
    ingress,
    certificates,
    async start() {
      certificates?.watch();
      await abuseLists.start();
      for (const [i, listener] of listeners.entries()) ports[specs[i]!.name] = await listener.listen();
    },
    async stop() {
      ingress.setClosing();
      logger.info({ event: EVENTS.drain, sessions: ingress.sessions.size, timeoutMs: config.SMTP_CLOSE_TIMEOUT_MS }, 'closing listeners');
      await Promise.all(listeners.map((listener) => listener.close()));
      connectionSlots?.close();
      abuseLists.close();
      certificates?.close();
      await authenticator?.close?.();
      // The jobs of the last messages committed, before the queue's connection goes.
      await store.drain();
      await producer.close();
    },
  };
}
