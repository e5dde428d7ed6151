// What each SMTP step does: gather the facts, ask the pure policy, act on its verdict, log
// and count. The listener adapter (adapters/smtp-listener.ts) reports each step as plain
// SessionFacts; nothing here knows smtp-server, sockets, PostgreSQL or Redis: the rest of
// the world is behind ports.ts.

import { isTlsReportAddress, newMessageId, resolveRecipient, type Directory, type ResolveOptions } from '@hopmail/mail';
import type { Logger } from 'pino';
import { errorVerdict, IngressError } from './errors.ts';
import { EVENTS } from './events.ts';
import type { IngressMetrics } from './metrics.ts';
import { AUTH_FAILED, AUTH_LOCKED, authzidPolicy, throttlePolicy } from './policy/auth-policy.ts';
import { connectPolicy } from './policy/connect-policy.ts';
import { ABORTED } from './policy/data-policy.ts';
import type { AuthStepOutcome } from './policy/auth-step.ts';
import { createDataStep, type CollectedMessage } from './policy/data-step.ts';
import { mailPolicy } from './policy/mail-policy.ts';
import { rcptPolicy, rcptSyntaxPolicy } from './policy/rcpt-policy.ts';
import { senderPolicy } from './policy/sender-policy.ts';
import { srsRcptPolicy } from './policy/srs-policy.ts';
import { isSrsLocalPart, srsReverse, type SrsKeys } from '@hopmail/sender-auth';
import { ACCEPT, reject, type Refusal, type Verdict } from './policy/verdict.ts';
import type { AuthResults, AuthResultValue } from './policy/mail-auth-policy.ts';
import { isPostmaster, namesServerPostmaster } from './policy/postmaster.ts';
import type { NewMessage, RecipientDsn } from '@hopmail/db';
import type { Accounts, AuthLimiter, Authenticator, ContentFilter, InboundPolicies, MessageStore, SpfCheck } from './ports.ts';
import { junkVerdict, rewriteSubject, spamPolicy, type SpamInput } from './policy/spam-policy.ts';
import { spamFlagged } from './protocol/message.ts';
import { withTimeout } from '@hopmail/service-kit';
import type { Greylist } from './adapters/greylist.ts';
import type { DnsblLookup } from './adapters/dnsbl.ts';
import type { AbuseStats } from './adapters/abuse-stats.ts';
import type { RateKind, RateLimiter } from './adapters/rate-limiter.ts';
import type { ConnectionSlots } from './adapters/connection-slots.ts';
import type { RefusalLog } from './adapters/refusal-log.ts';
import { blocklistVerdict, type AbuseLists } from './policy/abuse-list-policy.ts';
import { defer as deferVerdict, disconnect } from './policy/verdict.ts';
import { dnsblVerdict } from './policy/dnsbl-policy.ts';
import { greylistExemption, greylistNetwork, greylistVerdict, networkTripletKey } from './policy/greylist-policy.ts';
import { SessionRegistry, type ConnectionState, type SessionFacts } from './session.ts';

export interface IngressOptions {
  hostname: string;
  maxConnectionsPerIp: number;
  maxMessageSize: number;
  maxReceivedHeaders: number;
  resolve: ResolveOptions;
  /** TLSRPT_LOCAL_PART: `<it>@<local domain>` is accepted without a mailbox (routing takes the report); absent: no report address. */
  tlsReportLocalPart?: string;
  /** Secrets and lifetime of the SRS addresses outbound-relay makes; bounces to them are reversed at RCPT. */
  srs: SrsKeys;
  auth: {
    maxPerIp: number;
    maxPerAccount: number;
    baseDelayMs: number;
    maxDelayMs: number;
  };
  /** The content filter's budget and what its absence means (RSPAMD_TIMEOUT_MS, RSPAMD_FAIL_OPEN). */
  spam?: { timeoutMs: number; failOpen: boolean };
  /** RATE_MAX_* (0: off) and the harvest tarpit. */
  rate?: { connections: number; messages: number; recipients: number; unknownRecipients: number; tarpitMs: number; concurrent?: number };
  /** DNSBL_THRESHOLD / DNSBL_ALLOWLIST_THRESHOLD, when DNSBL_SITES is set. */
  dnsbl?: { threshold: number; allowlistThreshold: number };
  /** Greylisting (GREYLIST_*); absent: off. */
  greylist?: { allow: (ip: string) => boolean };
}

export interface AuthAttempt {
  method: string;
  username: string;
  password: string;
  /** PLAIN's authorization identity ('' when absent or for LOGIN). */
  authzid: string;
}

/** A RCPT TO forward-path; the ingress may rewrite `address` (see rcptTo) and the listener keeps what it finds there. */
export interface RecipientAddress {
  address: string;
}

export interface IngressDeps {
  options: IngressOptions;
  directory: Directory;
  store: MessageStore;
  accounts: Accounts;
  limiter: AuthLimiter;
  logger: Logger;
  metrics: IngressMetrics;
  /** rspamd (RSPAMD_URL), or none. */
  contentFilter?: ContentFilter | null;
  /** Refusal counts for GET /v1/abuse/stats (Redis). */
  abuseStats?: AbuseStats | null;
  /** Per-client rate counters shared by the replicas (Redis). */
  rateLimiter?: RateLimiter | null;
  /** Concurrent sessions per client across the replicas (Redis), when RATE_MAX_CONCURRENT_CONNECTIONS is set. */
  connectionSlots?: ConnectionSlots | null;
  /** The operator's allowlist and blocklist (PostgreSQL, cached and refreshed). */
  abuseLists?: { current(): AbuseLists } | null;
  /** Refused and greylisted RCPTs for the admin API (PostgreSQL, batched, best effort). */
  refusalLog?: RefusalLog | null;
  /** DNSBL/DNSWL look-ups (DNSBL_SITES), started at connect. */
  dnsbl?: DnsblLookup | null;
  /** Greylisting state shared by the replicas (Redis), when GREYLIST_ENABLED. */
  greylist?: Greylist | null;
  /** SPF of an allowlisted sender domain at RCPT (greylisting's exemption), through dns-cache. */
  spfCheck?: SpfCheck | null;
  /** Waits before a failed AUTH is answered (tests may shorten it). */
  sleep?: (ms: number) => Promise<void>;
  /** Clock of the SRS day stamps (tests). */
  now?: () => Date;
  /** Where postmaster mail without a mailbox of its own goes (POSTMASTER_ADDRESS, else the first mailbox); null: nowhere yet. */
  postmaster?: () => Promise<string | null>;
  /** Inbound authentication on the MX listener (issue 12); absent: off. */
  authenticator?: Authenticator;
  inboundPolicies?: InboundPolicies;
}

export type DataOutcome = { verdict: Verdict; reply?: string };

export function createIngress(deps: IngressDeps) {
  const { options, directory, store, accounts, limiter, logger, metrics } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = deps.now ?? (() => new Date());
  const postmasterAddress = deps.postmaster ?? (async () => null);
  const sessions = new SessionRegistry();
  const dataStep = createDataStep({ accounts, hostname: options.hostname, maxMessageSize: options.maxMessageSize, maxReceivedHeaders: options.maxReceivedHeaders, authenticator: deps.authenticator, inboundPolicies: deps.inboundPolicies });
  let closing = false;

  const rejected = (stage: string, v: Verdict) => {
    if (v.kind === 'accept') return;
    metrics.rejected.inc({ stage, reason: v.reason });
    deps.abuseStats?.record(stage, v.reason, now().getTime());
  };
  const stateOf = (facts: SessionFacts): ConnectionState =>
    sessions.get(facts.sessionId) ??
    // A hook for a session whose onConnect we never saw cannot happen; stay safe anyway.
    { sessionId: facts.sessionId, remoteIp: facts.remoteIp, listener: 'mx', log: logger.child({ sessionId: facts.sessionId, remoteIp: facts.remoteIp }), user: null, mailbox: null, requireAuth: true, openedAt: Date.now(), messages: 0 };

  /** The client is on the operator's allowlist: no DNSBL, greylisting or per-client limits. */
  const allowlisted = (ip: string) => deps.abuseLists?.current().client(ip)?.list === 'allow';
  /** A refused or greylisted attempt that named its recipients, for "why didn't my mail arrive". */
  const recordRefusal = (facts: SessionFacts, stage: string, v: Verdict, recipients: readonly string[]) => {
    if (v.kind === 'accept' || !deps.refusalLog) return;
    for (const recipient of recipients) {
      deps.refusalLog.record({ sessionId: facts.sessionId, clientIp: facts.remoteIp, helo: facts.helo, sender: facts.transaction.mailFrom, recipient, stage, reason: v.reason, reply: `${v.code} ${v.enhanced} ${v.text}` });
    }
  };

  const logMailAuth = (state: ConnectionState, msgId: string, from: string, auth: AuthStepOutcome) => {
    const r = auth.results;
    metrics.mailAuth.inc({ check: 'spf', result: r.spf.result });
    for (const d of r.dkim) metrics.mailAuth.inc({ check: 'dkim', result: d.result });
    metrics.mailAuth.inc({ check: 'dmarc', result: r.dmarc.result });
    metrics.mailAuth.inc({ check: 'arc', result: r.arc.result });
    const fields = {
      msgId, from, spf: r.spf.result, dkim: r.dkim.map((d) => `${d.result}:${d.domain}`), dmarc: r.dmarc.result, dmarcDomain: r.dmarc.domain ?? undefined,
      dmarcPolicy: r.dmarc.policy ?? undefined, arc: r.arc.result, quarantine: auth.kind === 'accept' ? auth.quarantine : undefined,
      reason: auth.kind === 'refuse' ? auth.verdict.reason : undefined,
    };
    if (auth.kind === 'refuse' && auth.verdict.kind === 'defer') state.log.warn({ event: EVENTS.mailAuthTemperror, ...fields }, 'authentication check could not finish; 451');
    else state.log.info({ event: EVENTS.mailAuth, ...fields }, 'authentication results');
    if (auth.kind === 'accept' && auth.forgedRemoved) state.log.warn({ event: EVENTS.forgedAuthResults, msgId, from, removed: auth.forgedRemoved }, 'Authentication-Results: claiming our authserv-id removed');
  };

  /**
   * Asks the content filter within its budget and applies its answer: a refusal, or the
   * message with the X-Spam-* fields (and subject) it asked for and its verdict to store.
   */
  async function scan(state: ConnectionState, message: NewMessage, facts: SessionFacts, auth: AuthResults | null): Promise<{ kind: 'refuse'; verdict: Refusal } | { kind: 'commit'; message: NewMessage; held?: Refusal }> {
    const filter = deps.contentFilter!;
    const spamOptions = options.spam ?? { timeoutMs: 5000, failOpen: true };
    const controller = new AbortController();
    const started = process.hrtime.bigint();
    let input: SpamInput;
    try {
      const result = await withTimeout(
        filter.check(message.raw, { queueId: message.id, ip: facts.remoteIp, helo: facts.helo, hostname: facts.clientHostname, mailFrom: message.mailFrom, recipients: message.recipients, user: state.user, auth }, controller.signal),
        spamOptions.timeoutMs,
        'content filter',
      );
      input = { kind: 'scanned', result };
    } catch (err) {
      controller.abort();
      input = { kind: 'unavailable' };
      state.log.warn({ event: EVENTS.spamFilterUnavailable, msgId: message.id, failOpen: spamOptions.failOpen, err }, spamOptions.failOpen ? 'content filter unavailable: message accepted unchecked' : 'content filter unavailable: message deferred');
    }
    metrics.spamCheckSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.spamChecks.inc({ listener: state.listener, action: input.kind === 'scanned' ? input.result.action : 'unavailable' });
    const d = spamPolicy(input, { failOpen: spamOptions.failOpen, submission: state.user !== null, queueId: message.id });
    const spam = d.record;
    if (d.hold && d.verdict.kind !== 'accept') return { kind: 'commit', message: { ...message, spam, held: true }, held: d.verdict };
    if (d.verdict.kind !== 'accept') {
      rejected('data', d.verdict);
      state.log.info({ event: EVENTS.spamRejected, msgId: message.id, from: message.mailFrom, reason: d.verdict.reason, score: spam.checked ? spam.score : undefined }, 'message refused by the content filter');
      return { kind: 'refuse', verdict: d.verdict };
    }
    let raw = d.subject !== null ? rewriteSubject(message.raw, d.subject) : message.raw;
    if (d.headers) raw = Buffer.concat([Buffer.from(d.headers, 'utf8'), raw]);
    return { kind: 'commit', message: { ...message, raw, spam } };
  }

  const RATE_REPLY: Record<RateKind, Refusal> = {
    connections: disconnect('4.7.0', 'Too many connections from your address, try again later', 'rate-connections'),
    messages: deferVerdict(451, '4.7.1', 'Too many messages from your address, try again later', 'rate-messages'),
    recipients: deferVerdict(451, '4.7.1', 'Too many recipients from your address, try again later', 'rate-recipients'),
    'unknown-recipients': disconnect('4.7.0', 'Too many unknown recipients, closing', 'rate-unknown-recipients'),
  };
  const TOO_MANY_CONCURRENT = disconnect('4.7.0', 'Too many concurrent connections from your address, try again later', 'rate-concurrent-connections');
  const concurrentLimit = deps.connectionSlots ? (options.rate?.concurrent ?? 0) : 0;
  /** Counts one event of `kind` for the client (unless `counted`: already counted elsewhere, this is the count); the refusal when that passes its limit. */
  async function overRate(state: ConnectionState, kind: RateKind, limit: number, counted: number | null = null): Promise<Refusal | null> {
    if (!deps.rateLimiter || limit <= 0) return null;
    const count = counted ?? (await deps.rateLimiter.hit(kind, state.remoteIp, now().getTime()));
    if (count <= limit) return null;
    metrics.rateLimited.inc({ kind });
    state.log.warn({ event: EVENTS.rateLimited, kind, count, limit }, 'per-client rate limit reached');
    return RATE_REPLY[kind];
  }

  return {
    sessions,
    /** The listener asks connectionRate() before greeting (RATE_MAX_CONNECTIONS or RATE_MAX_CONCURRENT_CONNECTIONS set). */
    limitsConnectionRate: Boolean(deps.rateLimiter && (options.rate?.connections ?? 0) > 0) || concurrentLimit > 0,
    setClosing() {
      closing = true;
    },

    /** Protocol-level refusals decided in the connection adapter (line length, error limit). */
    recordProtocolReject(stage: 'connect' | 'protocol' | 'auth', reason: string): void {
      metrics.rejected.inc({ stage, reason });
      deps.abuseStats?.record(stage, reason, now().getTime());
    },

    connect(facts: SessionFacts, listener: string, requireAuth = false): Verdict {
      const { sessionId, remoteIp } = facts;
      const v = connectPolicy({ remoteIp, openFromIp: sessions.openFrom(remoteIp), maxPerIp: options.maxConnectionsPerIp, closing, hostname: options.hostname });
      // One child with every session field: a second child just to add `listener` cost as
      // much again on each new connection (pino serialises the bindings per child).
      const log = logger.child({ sessionId, remoteIp, listener });
      metrics.connections.inc({ listener, result: v.kind === 'accept' ? 'accepted' : v.reason });
      if (v.kind !== 'accept') {
        rejected('connect', v);
        log.warn({ event: EVENTS.connectRefused, reason: v.reason }, 'connection refused');
        return v;
      }
      // Started now, awaited at the first RCPT: the greeting never waits for DNS.
      const dnsbl = deps.dnsbl && !requireAuth && !allowlisted(remoteIp) ? deps.dnsbl(remoteIp) : undefined;
      sessions.open({ sessionId, remoteIp, listener, log, user: null, mailbox: null, requireAuth, openedAt: Date.now(), messages: 0, dnsbl });
      metrics.activeConnections.inc({ listener });
      log.debug({ event: EVENTS.connect, rdns: facts.clientHostname }, 'connect');
      return v;
    },

    /**
     * RATE_MAX_CONCURRENT_CONNECTIONS and RATE_MAX_CONNECTIONS across replicas, after connect()
     * accepted (a Redis round trip each before the greeting, only when set).
     */
    async connectionRate(facts: SessionFacts): Promise<Verdict> {
      const state = sessions.get(facts.sessionId);
      if (!state || allowlisted(state.remoteIp)) return ACCEPT;
      if (concurrentLimit > 0 && (await deps.connectionSlots!.acquire(state.sessionId, state.remoteIp, concurrentLimit)) === null) {
        metrics.rateLimited.inc({ kind: 'concurrent-connections' });
        state.log.warn({ event: EVENTS.rateLimited, kind: 'concurrent-connections', limit: concurrentLimit }, 'concurrent connections limit reached (all replicas)');
        rejected('connect', TOO_MANY_CONCURRENT);
        return TOO_MANY_CONCURRENT;
      }
      const v = await overRate(state, 'connections', options.rate?.connections ?? 0);
      if (!v) return ACCEPT;
      rejected('connect', v);
      return v;
    },

    close(sessionId: string): void {
      const state = sessions.close(sessionId);
      if (!state) return;
      deps.connectionSlots?.release(sessionId);
      metrics.activeConnections.dec({ listener: state.listener });
      state.log.debug({ event: EVENTS.disconnect, messages: state.messages, ms: Date.now() - state.openedAt }, 'disconnect');
    },

    /** RFC 3207 §4.2: after the handshake nothing learnt before it counts (smtp-server resets EHLO and the envelope). */
    secure(facts: SessionFacts): void {
      const state = stateOf(facts);
      state.user = null;
      state.mailbox = null;
      metrics.tlsHandshakes.inc({ listener: state.listener, version: facts.tlsVersion || 'unknown' });
      state.log.debug({ event: EVENTS.tls, cipher: facts.tlsCipher ?? undefined, version: facts.tlsVersion ?? undefined, servername: facts.servername ?? undefined }, 'TLS established');
    },

    /**
     * AUTH PLAIN / LOGIN (RFC 4954, RFC 4616). Smtp-server only calls this inside TLS (the
     * connection answers 538 5.7.11 in clear). Unknown user and wrong password: the same
     * Argon2id cost, the same delay, the same reply.
     */
    async auth(facts: SessionFacts, attempt: AuthAttempt): Promise<{ verdict: Verdict; user?: string }> {
      const state = stateOf(facts);
      const ip = facts.remoteIp;
      const fail = (v: Verdict, extra: Record<string, unknown> = {}) => {
        rejected('auth', v);
        const reason = v.kind === 'accept' ? 'unknown' : v.reason;
        metrics.auth.inc({ listener: state.listener, result: reason });
        state.log.info({ event: EVENTS.authFailed, user: attempt.username, method: attempt.method, reason, ...extra }, 'authentication failed');
        return { verdict: v };
      };
      const idv = authzidPolicy({ authzid: attempt.authzid, username: attempt.username });
      if (idv.kind !== 'accept') return fail(idv);
      const counts = await limiter.failures(ip, attempt.username);
      const t = throttlePolicy({ ipFailures: counts.ip, accountFailures: counts.account, ...options.auth });
      if (t.locked) {
        state.log.warn({ event: EVENTS.authLocked, user: attempt.username, ipFailures: counts.ip, accountFailures: counts.account }, 'authentication refused: too many failures for this address or account');
        // Hammering a locked account keeps costing the address (the windows are not extended).
        await limiter.recordFailure(ip, attempt.username);
        await sleep(t.delayMs);
        return fail(AUTH_LOCKED, { ipFailures: counts.ip, accountFailures: counts.account });
      }
      let mailbox;
      try {
        mailbox = await accounts.authenticate(attempt.username, attempt.password);
      } catch (err) {
        state.log.error({ event: EVENTS.lookupFailed, user: attempt.username, err }, 'password lookup failed');
        return fail(errorVerdict('authLookupFailed', 'lookup-failed'));
      }
      if (!mailbox) {
        await limiter.recordFailure(ip, attempt.username);
        await sleep(t.delayMs);
        return fail(AUTH_FAILED, { delayMs: t.delayMs });
      }
      await limiter.recordSuccess(attempt.username);
      state.user = mailbox.address;
      state.mailbox = mailbox;
      metrics.auth.inc({ listener: state.listener, result: 'ok' });
      state.log.info({ event: EVENTS.authOk, user: mailbox.address, method: attempt.method }, 'authenticated');
      return { verdict: ACCEPT, user: mailbox.address };
    },

    async mailFrom(facts: SessionFacts, from: string): Promise<Verdict> {
      const state = stateOf(facts);
      let v = mailPolicy({ address: from, smtputf8: facts.transaction.smtputf8, requireAuth: state.requireAuth, authenticated: state.user !== null });
      if (v.kind === 'accept' && state.mailbox) {
        try {
          const owned = from === '' ? false : await accounts.owns(state.mailbox, from);
          v = senderPolicy({ address: from, owned, stage: 'envelope', user: state.mailbox.address });
        } catch (err) {
          state.log.error({ event: EVENTS.lookupFailed, from, err }, 'sender lookup failed');
          v = errorVerdict('lookupFailed', 'lookup-failed');
        }
      }
      if (v.kind === 'accept' && state.user === null && !allowlisted(state.remoteIp)) v = (await overRate(state, 'messages', options.rate?.messages ?? 0)) ?? v;
      if (v.kind === 'accept') sessions.beginTransaction(facts.transaction, { mailFrom: from, startedAt: Date.now() });
      else {
        rejected('mail', v);
        state.log.info({ event: EVENTS.mailRejected, from, reason: v.reason }, 'sender rejected');
      }
      return v;
    },

    /** RCPT TO; rewrites `recipient.address` where RFC 5321 wants it read differently. Refusals are recorded for the trace. */
    async rcptTo(facts: SessionFacts, recipient: RecipientAddress): Promise<Verdict> {
      const v = await rcpt(facts, recipient);
      recordRefusal(facts, 'rcpt', v, [recipient.address]);
      return v;
    },

    /**
     * The end of DATA: waits for the collector's bytes, lets the DATA step decide, commits.
     * 250 only once the message is committed. A refusal is recorded for each recipient.
     */
    async data(facts: SessionFacts, recipients: readonly string[], collecting: Promise<CollectedMessage>, recipientDsn?: readonly (RecipientDsn | null)[]): Promise<DataOutcome> {
      const o = await data(facts, recipients, collecting, recipientDsn);
      if (o.verdict.kind !== 'accept' && o.verdict !== ABORTED) recordRefusal(facts, 'data', o.verdict, recipients);
      return o;
    },
  };

  /** SPF of the transaction's MAIL FROM, asked once per transaction (the RCPTs after the first share it). */
  function senderSpf(facts: SessionFacts): Promise<AuthResultValue> {
    const input = { mailFrom: facts.transaction.mailFrom, helo: facts.helo, remoteIp: facts.remoteIp };
    const tx = sessions.transaction(facts.transaction);
    if (!tx) return deps.spfCheck!.check(input);
    tx.spf ??= deps.spfCheck!.check(input).then((result) => {
      metrics.mailAuth.inc({ check: 'spf-rcpt', result });
      return result;
    });
    return tx.spf;
  }

  async function rcpt(facts: SessionFacts, recipient: RecipientAddress): Promise<Verdict> {
    const state = stateOf(facts);
    // RFC 5321 §4.5.1: <postmaster>, and at our address literal, is the postmaster of our host name.
    const serverPostmaster = namesServerPostmaster(recipient.address, { hostname: options.hostname, localIp: facts.localIp ?? null });
    if (serverPostmaster) recipient.address = `postmaster@${options.hostname}`;
    // The operator's lists: a blocked client or sender domain is refused here, naming why;
    // an allowlisted client skips the screening below.
    const lists = state.user === null ? deps.abuseLists?.current() : undefined;
    const clientListing = lists?.client(facts.remoteIp) ?? null;
    if (lists) {
      const bv = blocklistVerdict(facts.remoteIp, clientListing, lists.sender(facts.transaction.mailFrom), facts.transaction.mailFrom);
      if (bv) {
        rejected('rcpt', bv);
        state.log.info({ event: EVENTS.blocklisted, from: facts.transaction.mailFrom, to: recipient.address, reason: bv.reason }, 'recipient refused: blocklist');
        return bv;
      }
    }
    const clientAllowed = clientListing?.list === 'allow';
    // DNS blocklists: refused at RCPT rather than at connect, so the client logs why (postscreen does the same).
    let dnswl = false;
    if (state.dnsbl && state.user === null && options.dnsbl && !clientAllowed) {
      const r = await state.dnsbl;
      dnswl = r.score <= options.dnsbl.allowlistThreshold;
      const bv = dnsblVerdict(r, options.dnsbl.threshold, facts.remoteIp);
      if (bv.kind !== 'accept') {
        metrics.dnsbl.inc({ result: 'blocked' });
        rejected('rcpt', bv);
        state.log.info({ event: EVENTS.dnsblBlocked, from: facts.transaction.mailFrom, to: recipient.address, zones: r.listedBy.map((x) => x.zone), score: r.score }, 'recipient refused: client on DNS blocklists');
        return bv;
      }
      metrics.dnsbl.inc({ result: dnswl ? 'allowlisted' : 'clean' });
    }
    let to = recipient.address;
    let v = rcptSyntaxPolicy({ address: to, smtputf8: facts.transaction.smtputf8 });
    if (!v) {
      try {
        // A bounce to an SRS address of ours: the original sender is the real recipient.
        let srsAuthorised = false;
        const at = to.lastIndexOf('@');
        if (at > 0 && isSrsLocalPart(to.slice(0, at))) {
          const ours = (await directory.domainKind(to.slice(at + 1).toLowerCase())) !== null;
          const srs = srsRcptPolicy({ address: to, ours, reversed: srsReverse(to, options.srs, now()) });
          if (srs.kind === 'refuse') v = srs.verdict;
          else if (srs.kind === 'rewrite') {
            state.log.info({ event: EVENTS.srsReversed, from: facts.transaction.mailFrom, srs: to, to: srs.address }, 'SRS address reversed');
            recipient.address = to = srs.address;
            srsAuthorised = true;
          }
        }
        if (!v) {
          let resolution = await resolveRecipient(to, directory, options.resolve);
          // The server's postmaster, or a local domain's that has no mailbox or alias of its own:
          // never refused (RFC 5321 §4.5.1); it goes to POSTMASTER_ADDRESS or the first mailbox.
          let postmasterAuthorised = false;
          if (isPostmaster(to) && (resolution.kind === 'unknown' || (serverPostmaster && resolution.kind === 'not-local'))) {
            const target = await postmasterAddress();
            if (target === null) v = reject(451, '4.3.0', `<${to}>: No postmaster mailbox exists yet; try again later`, 'postmaster-unconfigured');
            else {
              state.log.info({ event: EVENTS.postmasterRedirected, from: facts.transaction.mailFrom, to, target }, 'postmaster mail redirected');
              recipient.address = to = target;
              resolution = await resolveRecipient(to, directory, options.resolve);
              postmasterAuthorised = true;
            }
          }
          // The TLS-RPT report address of a local domain (the rua our DNS doctor proposes):
          // never refused for want of a mailbox; routing takes the report (RFC 8460 §5.3).
          // 'unknown' only comes from a local domain: elsewhere the address is refused as before.
          const tlsReport = resolution.kind === 'unknown' && options.tlsReportLocalPart !== undefined && isTlsReportAddress(to, { localPart: options.tlsReportLocalPart, subaddressDelimiter: options.resolve.subaddressDelimiter });
          if (tlsReport) state.log.info({ event: EVENTS.tlsReportAccepted, from: facts.transaction.mailFrom, to }, 'TLS-RPT report address accepted');
          v ??= tlsReport ? ACCEPT : (srsAuthorised || postmasterAuthorised) && resolution.kind === 'not-local' ? ACCEPT : rcptPolicy({ address: to, resolution, authenticated: state.user !== null });
        }
      } catch (err) {
        state.log.error({ event: EVENTS.lookupFailed, to, err }, 'recipient lookup failed');
        v = errorVerdict('lookupFailed', 'lookup-failed');
      }
    }
    // Counted in greylisting's own round trip when that goes to Redis (null: count it below).
    let recipientsCounted: number | null = null;
    if (v.kind === 'accept' && deps.greylist && options.greylist) {
      const client = (state.greylistClient ??= { network: greylistNetwork(facts.remoteIp), allowed: options.greylist.allow(facts.remoteIp) });
      const greyFacts = { authenticated: state.user !== null, allowlistedNetwork: clientAllowed || dnswl || client.allowed, nullSender: facts.transaction.mailFrom === '', allowlistedSenderSpf: null };
      let exempt = greylistExemption(greyFacts);
      let spf: AuthResultValue | undefined;
      if (!exempt && deps.spfCheck && lists?.sender(facts.transaction.mailFrom)?.list === 'allow') {
        spf = await senderSpf(facts);
        exempt = greylistExemption({ ...greyFacts, allowlistedSenderSpf: spf });
      }
      if (exempt) {
        metrics.greylist.inc({ result: 'exempt' });
        if (spf) state.log.info({ event: EVENTS.greylistExempt, from: facts.transaction.mailFrom, to, reason: exempt, spf }, 'not greylisted: allowlisted sender domain with SPF pass');
      } else {
        const at = now().getTime();
        const counter = deps.rateLimiter && (options.rate?.recipients ?? 0) > 0 && state.user === null && !clientAllowed ? deps.rateLimiter.counter('recipients', facts.remoteIp, at) : undefined;
        const answer = await deps.greylist.check(networkTripletKey(client.network, facts.transaction.mailFrom, to), client.network, at, counter);
        const result = answer.state;
        recipientsCounted = answer.counted;
        metrics.greylist.inc({ result });
        v = greylistVerdict(result);
        if (v.kind !== 'accept') {
          rejected('rcpt', v);
          state.log.info({ event: EVENTS.greylisted, from: facts.transaction.mailFrom, to, result, spf }, 'recipient greylisted');
          return v;
        }
      }
    }
    if (v.kind === 'accept' && state.user === null && !clientAllowed) v = (await overRate(state, 'recipients', options.rate?.recipients ?? 0, recipientsCounted)) ?? v;
    else if (v.kind === 'reject' && v.reason === 'unknown-user' && !clientAllowed) {
      // Directory harvest: past the limit the client waits, then the session ends.
      const harvest = await overRate(state, 'unknown-recipients', options.rate?.unknownRecipients ?? 0);
      if (harvest) {
        rejected('rcpt', harvest);
        await sleep(options.rate?.tarpitMs ?? 0);
        return harvest;
      }
    }
    if (v.kind !== 'accept') {
      rejected('rcpt', v);
      state.log.info({ event: EVENTS.rcptRejected, from: facts.transaction.mailFrom, to, reason: v.reason, code: v.code }, 'recipient rejected');
    }
    return v;
  }

  async function data(facts: SessionFacts, recipients: readonly string[], collecting: Promise<CollectedMessage>, recipientDsn?: readonly (RecipientDsn | null)[]): Promise<DataOutcome> {
    // Taken before the bytes arrive: a connection lost mid-DATA may be closed by then.
    const state = stateOf(facts);
    const id = newMessageId();
    const mailFrom = facts.transaction.mailFrom;
    const message = await collecting;
    if (message.kind === 'aborted') {
      state.log.info({ event: EVENTS.messageAborted, msgId: id, bytes: message.wireBytes }, 'connection lost during DATA; nothing stored');
      rejected('data', ABORTED);
      return { verdict: ABORTED };
    }
    const decision = await dataStep({ id, date: new Date(), session: facts, recipients, user: state.mailbox, message, checkAuth: state.listener === 'mx' });
    if (decision.auth) logMailAuth(state, id, mailFrom, decision.auth);
    if (decision.kind === 'refuse') {
      const v = decision.verdict;
      if (decision.lookupFailure) state.log.error({ event: EVENTS.lookupFailed, msgId: id, from: decision.lookupFailure.address, err: decision.lookupFailure.error }, 'From: address lookup failed');
      rejected('data', v);
      state.log.info({ event: EVENTS.messageRejected, msgId: id, from: mailFrom, reason: v.reason, bytes: message.wireBytes }, 'message rejected');
      return { verdict: v };
    }
    // RFC 3461: what the client asked to be told, stored per recipient and honoured downstream.
    const dsn = facts.transaction.dsn;
    let toCommit: NewMessage = { ...decision.message, dsnRet: dsn?.ret ?? null, dsnEnvid: dsn?.envid ?? null, recipientDsn };
    let heldVerdict: Refusal | undefined;
    if (deps.contentFilter) {
      const scanned = await scan(state, toCommit, facts, decision.auth?.results ?? null);
      if (scanned.kind === 'refuse') return { verdict: scanned.verdict };
      toCommit = scanned.message;
      heldVerdict = scanned.held;
    }
    // Where routing files it: decided here, with the header in memory, not by the delivery
    // trigger reading the stored message for every copy (migration 0025).
    toCommit.junk = junkVerdict(toCommit.spam) || spamFlagged(toCommit.raw);
    try {
      await store.commit(toCommit);
    } catch (err) {
      const e = err instanceof IngressError ? err : new IngressError('storeFailed', String(err), err);
      state.log.error({ event: EVENTS.storeFailed, msgId: id, err: e.cause ?? e }, 'message not stored');
      const v = errorVerdict(e.kind, 'store-failed');
      rejected('data', v);
      return { verdict: v };
    }
    if (heldVerdict) {
      // Outgoing spam: committed for the postmaster, refused to the client (spamPolicy).
      metrics.spamHeld.inc({ listener: state.listener });
      state.log.warn({ event: EVENTS.spamHeld, msgId: id, from: mailFrom, user: state.user, rcpts: recipients.length }, 'authenticated submission rejected as spam: held, not relayed');
      rejected('data', heldVerdict);
      return { verdict: heldVerdict };
    }
    const size = message.kind === 'complete' ? message.size : 0;
    state.messages++;
    metrics.accepted.inc({ listener: state.listener });
    metrics.messageSize.observe(size);
    const tx = sessions.transaction(facts.transaction);
    state.log.info({ event: EVENTS.messageAccepted, msgId: id, from: mailFrom, rcpts: recipients.length, size, ms: tx ? Date.now() - tx.startedAt : undefined }, 'message accepted');
    return { verdict: ACCEPT, reply: `2.0.0 Ok: queued as ${id}` };
  }
}

export type Ingress = ReturnType<typeof createIngress>;
