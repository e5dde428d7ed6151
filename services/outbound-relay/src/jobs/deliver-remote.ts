// deliver-remote {messageId, domain}: one try at delivering the due recipients of one message
// at one destination domain. PostgreSQL decides what is due; every outcome is recorded there
// before the job ends, so a job that runs twice (stalled worker, scheduler) does no harm
// beyond what SMTP itself cannot prevent (a duplicate at the remote, logged). The DSNs an
// outcome calls for are not written here: finish() hands them to send-dsn (jobs/send-dsn.ts).
import { hostname as osHostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { handOff, type DsnReason, type Payload, type Producer } from '@hopmail/queue';
import type { Logger } from 'pino';
import type { DnsClient, DnsResult, TlsaRecord } from '@hopmail/dns-client';
import { usableTlsa } from '../policy/dane.ts';
import type { SmtpPool, SmtpTarget, Session } from '../adapters/smtp-client.ts';
import type { Limits } from '../adapters/limits.ts';
import type { AttemptOutcome, RecipientUpdate, RelayStore, WorkMessage, WorkRecipient } from '../adapters/store.ts';
import { EVENTS } from '../events.ts';
import { classify, parseReply, type Outcome } from '../policy/classify.ts';
import { isLoop, planMx } from '../policy/mx-plan.ts';
import { orderAddresses, type AddressOrder } from '../policy/address-order.ts';
import { afterTemporaryFailure, isExpired, needsDelayWarning, type RetryPolicy } from '../policy/retry.ts';
import { foldLongLines, toCrlf } from '../protocol/wire.ts';
import type { RelayMetrics } from '../metrics.ts';
import { planEnvelopes, type EnvelopeGroup } from '../policy/envelope.ts';
import type { SrsKeys } from '@hopmail/sender-auth';
import type { AttemptAuth, Authenticate } from './authenticate.ts';
import type { TlsPolicies } from '../adapters/tls-policies.ts';
import type { TlsStore } from '../adapters/tls-store.ts';
import { allowedHosts, checkSession, connectMode, policyTypeOf, requirementFor, tlsFailureReply, verifiesTls, type DomainTls, type TlsCheck, type TlsRequirement } from '../policy/tls-policy.ts';

export interface DeliverDeps {
  store: RelayStore;
  dns: DnsClient;
  smtp: SmtpPool;
  limits: Limits;
  /** Where finish() hands the DSNs an outcome calls for. */
  sendDsn: Producer<'send-dsn'>;
  logger: Logger;
  metrics: RelayMetrics;
  policy: RetryPolicy;
  now: () => Date;
  hostname: string;
  port: number;
  /** RELAY_ADDRESS_ORDER: which of an MX host's addresses, in what order (policy/address-order.ts). */
  addressOrder: AddressOrder;
  allowLoopback: boolean;
  ownAddresses: ReadonlySet<string>;
  throttleDelayMs: number;
  smarthost: { host: string; port: number; domains: readonly string[]; auth?: { user: string; pass: string }; requireTls: boolean } | null;
  testHoldAfterDataMs: number;
  /** DKIM signing and ARC sealing of the bytes sent (jobs/authenticate.ts). */
  authenticate: Authenticate;
  srs: SrsKeys;
  /** The destination's TLS policy: operator table, MTA-STS, or none (adapters/tls-policies.ts). */
  tlsPolicies: TlsPolicies;
  /** TLS outcome counters for TLS-RPT. */
  tlsStore: TlsStore;
  /** TLSA look-up with the AD bit (RELAY_DANE off: null). */
  tlsa: ((name: string) => Promise<DnsResult<{ records: TlsaRecord[]; authenticated: boolean }>>) | null;
  /** Whether an MX host's A/AAAA answer carries the AD bit (RFC 7672 §2.2.2), asked only when its TLSA look-up failed. */
  addressesSecure: (host: string) => Promise<boolean>;
}

/** What one attempt means for one recipient: the reply (or our own reason) classified, and the MX that gave it. */
type RecipientResult = { outcome: Outcome; reply: string; mx: string | null };

interface JobContext {
  msgId: string;
  domain: string;
  jobId: string | undefined;
}

/** One attempt's results, for finish(). */
interface Finish {
  message: WorkMessage;
  results: { recipient: WorkRecipient; result: RecipientResult }[];
  /** The attempt row of an SMTP transaction, or null: finish() writes a finished one (no session was had). */
  attemptId: number | null;
  attemptOutcome: AttemptOutcome;
  attemptReply: string | null;
  tls: boolean;
  ctx: JobContext;
  envelopeFrom?: string;
  auth?: AttemptAuth;
  /** The next hop advertised DSN (RFC 3461): it took the DSN parameters and the success report. */
  dsnHop?: boolean;
}

type Group = EnvelopeGroup<WorkRecipient>;

const asksSuccess = (r: WorkRecipient) => r.notify?.includes('SUCCESS') === true;

type Target =
  | { kind: 'decided'; result: RecipientResult }
  | { kind: 'hosts'; hosts: string[]; port: number; fixedIp?: string; auth?: { user: string; pass: string } | undefined; requireTls: boolean; smarthost: boolean };

const STATUS_EVENT = {
  delivered: EVENTS.delivered,
  deferred: EVENTS.deferred,
  bounced: EVENTS.bounced,
  failed: EVENTS.failed,
} as const satisfies Record<RecipientUpdate['status'], string>;

const worker = `${osHostname()}:${process.pid}`;

export function createDeliverRemote(deps: DeliverDeps) {
  const { store, dns, smtp, limits, sendDsn, logger: log, metrics, policy, now: clock, hostname, port, addressOrder, allowLoopback, ownAddresses, throttleDelayMs, smarthost, testHoldAfterDataMs, authenticate, srs, tlsPolicies, tlsStore, tlsa, addressesSecure } = deps;

  /**
   * DANE (RFC 7672) outranks MTA-STS (RFC 8461 §2) and the operator's 'dane' asks for it:
   * validated TLSA records of the MX host make TLS mandatory and the certificate must match;
   * validated records none of which is usable still make TLS mandatory (§2.2). Without
   * validated TLSA records the domain's policy stands. Not for the operator's other entries.
   * A TLSA look-up that fails (SERVFAIL, a bogus answer, a timeout: not NXDOMAIN or NODATA,
   * which mean "no TLSA") for a host whose address records are DNSSEC-secure makes that host
   * unusable (RFC 7672 §2.2.2): an attacker who can make the look-up fail must not get a
   * delivery without DANE. `unusable` is the reply recorded if no other MX takes the mail.
   */
  async function withDane(req: TlsRequirement, tls: DomainTls, host: string, tlsaPort: number): Promise<TlsRequirement | { unusable: string; code: string }> {
    if (!tlsa || (tls.source === 'operator' && tls.policy.policy !== 'dane')) return req;
    const name = `_${tlsaPort}._tcp.${host}`;
    const r = await tlsa(name);
    if (!r.ok) {
      if (r.kind === 'temporary' && (await addressesSecure(host))) {
        return { unusable: `451 4.7.5 DANE: TLSA look-up of ${name} failed (${r.code}) and the addresses of ${host} are DNSSEC-signed: not used without DANE (RFC 7672 §2.2.2)`, code: r.code };
      }
      return req;
    }
    if (!r.value.authenticated) return req;
    const usable = usableTlsa(r.value.records);
    return usable.length ? { level: 'dane', records: usable } : { level: 'encrypt' };
  }

  /** Counts one TLS outcome for TLS-RPT; never fails the delivery. */
  async function recordTls(ctx: JobContext, req: TlsRequirement, mxHost: string, ip: string, check: TlsCheck | { ok: false; resultType: string; detail: string }): Promise<void> {
    try {
      await tlsStore.recordOutcome({
        domain: ctx.domain.toLowerCase(),
        policyType: policyTypeOf(req),
        policyString: req.level === 'sts' ? req.policyId : '',
        mxHost,
        ip,
        resultType: check.ok ? '' : check.resultType,
        detail: check.ok ? null : check.detail,
        at: clock(),
      });
    } catch (err) {
      log.warn({ event: EVENTS.tlsOutcomeFailed, ...ctx, mx: mxHost, err }, 'TLS outcome not recorded');
    }
  }

  return async function deliverRemote(p: Payload<'deliver-remote'>, jobId?: string): Promise<void> {
    const now = clock();
    const work = await store.loadWork(p.messageId, p.domain, now);
    if (!work || work.recipients.length === 0) return;
    const { message, recipients } = work;
    const ctx: JobContext = { msgId: message.id, domain: p.domain, jobId };

    for (const a of message.attemptInProgress ? await store.claimCrashedAttempts(message.id, p.domain) : []) {
      log.warn({ event: EVENTS.possibleDuplicate, ...ctx, attemptId: a.id, mx: a.mx_host, recipients: a.recipients }, 'previous attempt died before its result was recorded; the remote may have the message already');
    }

    // Results reached without an SMTP transaction: one finished attempt row records them.
    const withoutSession = (results: Finish['results'], attemptOutcome: AttemptOutcome, attemptReply: string | null) =>
      finish({ message, results, attemptId: null, attemptOutcome, attemptReply, tls: false, ctx });

    if (isExpired(policy, message.receivedAt, now)) {
      // RFC 3463 X.4.7; the DSN reports it as Action: failed with the last reason we had.
      const expired = (r: WorkRecipient) => `451 4.4.7 Delivery time expired after ${Math.round(policy.maxAgeMs / 1000)}s${r.lastReply ? ` (last: ${r.lastReply.replace(/[\r\n]+/g, ' ')})` : ''}`;
      return withoutSession(recipients.map((recipient) => ({ recipient, result: { outcome: 'bounced', reply: expired(recipient), mx: null } })), 'bounced', null);
    }

    // Forwarded recipients (SRS, ARC) and the others are separate transactions; usually one group.
    for (const group of planEnvelopes({ mailFrom: message.mailFrom, senderIsOurs: message.senderIsOurs, recipients, srs, now })) {
      await deliverGroup(message, group, ctx);
    }
  };

  async function deliverGroup(message: WorkMessage, group: Group, ctx: JobContext): Promise<void> {
    const { recipients } = group;
    const withoutSession = (results: Finish['results'], attemptOutcome: AttemptOutcome, attemptReply: string | null) =>
      finish({ message, results, attemptId: null, attemptOutcome, attemptReply, tls: false, ctx });
    const everyone = (result: RecipientResult) => recipients.map((recipient) => ({ recipient, result }));
    const target = await plan(ctx.domain);
    if (target.kind === 'decided') {
      return withoutSession(everyone(target.result), target.result.outcome === 'bounced' ? 'bounced' : 'deferred', target.result.reply);
    }

    // The operator's table, else MTA-STS (a smarthost is the operator's own choice of hop).
    const found: DomainTls = target.smarthost ? { source: 'none' } : await tlsPolicies(ctx.domain);
    // RFC 8689 §5: `TLS-Required: No` asks that the recipient domain's TLS policies (MTA-STS,
    // DANE) be ignored, not the operator's own table; with REQUIRETLS it is ignored (§4.1).
    const tlsOptional = message.tlsOptional && !message.requireTls && found.source !== 'operator';
    if (tlsOptional) log.info({ event: EVENTS.tlsRequiredNo, ...ctx, policy: found.source }, 'TLS-Required: No: the recipient domain\'s MTA-STS and DANE policies are not enforced for this message');
    const tls: DomainTls = tlsOptional && found.source === 'sts' ? { source: 'sts', policy: { ...found.policy, mode: 'testing' } } : found;
    const req = requirementFor(tls);
    if (tls.source === 'none' && tls.failure) await recordTls(ctx, { level: 'sts', enforce: false, policyId: '' }, '', '', { ok: false, ...tls.failure });
    const { allowed, refused } = allowedHosts(tls, target.hosts);
    if (refused.length) log.info({ event: EVENTS.stsMxRefused, ...ctx, refused }, 'MX hosts not allowed by the MTA-STS policy');
    if (allowed.length === 0) {
      const reply = `451 4.7.5 MTA-STS policy of ${ctx.domain}: no MX host matches (MX ${target.hosts.join(', ')})`;
      await recordTls(ctx, req, refused[0] ?? '', '', { ok: false, resultType: 'validation-failure', detail: 'no MX host matches the policy' });
      return withoutSession(everyone({ outcome: 'deferred', reply, mx: null }), 'deferred', reply);
    }

    let last: RecipientResult = { outcome: 'deferred', reply: `451 4.4.1 No MX host of ${ctx.domain} reachable`, mx: null };
    let requireTlsRefused = 0;
    for (const host of allowed) {
      const dane = target.smarthost || tlsOptional ? req : await withDane(req, tls, host, target.port);
      if ('unusable' in dane) {
        last = { outcome: 'deferred', reply: dane.unusable, mx: host };
        log.warn({ event: EVENTS.daneLookupFailed, ...ctx, mx: host, code: dane.code }, 'TLSA look-up failed for an MX host with DNSSEC-signed addresses: host skipped');
        await recordTls(ctx, { level: 'dane', records: [] }, host, '', { ok: false, resultType: 'dnssec-invalid', detail: dane.unusable.slice(10) });
        continue;
      }
      const hostReq = dane;
      // REQUIRETLS (RFC 8689 §4.2.1): only hosts whose TLS a policy verifies (DANE, MTA-STS enforce, the operator's verify).
      if (message.requireTls && !verifiesTls(hostReq)) {
        requireTlsRefused++;
        continue;
      }
      const tlsConnect = { mode: connectMode(hostReq), ...(hostReq.level === 'verify' && hostReq.caPem ? { ca: hostReq.caPem } : {}), ...(hostReq.level === 'dane' ? { dane: true } : {}) };
      if (!target.smarthost && isLoop({ mxHost: host, ourHostname: hostname, ownAddresses, allowLoopback })) {
        return withoutSession(everyone({ outcome: 'bounced', reply: `554 5.4.6 Mail for ${ctx.domain} loops back to myself (MX ${host})`, mx: null }), 'bounced', null);
      }
      let ips: string[];
      if (target.fixedIp) ips = [target.fixedIp];
      else {
        const a = await dns.addresses(host);
        if (!a.ok) {
          last = { outcome: 'deferred', reply: `451 4.4.3 Address lookup of ${host} failed (${a.code})`, mx: null };
          log.info({ event: EVENTS.mxUnresolvable, ...ctx, mx: host, code: a.code }, 'MX host has no usable address');
          continue;
        }
        ips = orderAddresses(a.value, addressOrder);
        if (ips.length === 0) {
          last = { outcome: 'deferred', reply: `451 4.4.3 ${host} has no address of the family RELAY_ADDRESS_ORDER=${addressOrder} allows`, mx: null };
          log.info({ event: EVENTS.mxUnresolvable, ...ctx, mx: host, code: addressOrder }, 'MX host has no usable address');
          continue;
        }
      }
      // A configured smarthost may well be on loopback (a local filter); only MX data is suspect.
      const loopIp = target.smarthost ? undefined : ips.find((ip) => isLoop({ mxHost: host, ip, ourHostname: hostname, ownAddresses, allowLoopback }));
      if (loopIp) return withoutSession(everyone({ outcome: 'bounced', reply: `554 5.4.6 Mail for ${ctx.domain} loops back to myself (MX ${host}[${loopIp}])`, mx: null }), 'bounced', null);
      // Happy eyeballs (RFC 8305): each session races the addresses not yet used up, in order.
      for (let i = 0; i < ips.length; ) {
        if (!(await limits.takeRate(host))) return throttle({ recipients, host, reason: 'rate', ctx });
        const t: SmtpTarget = { mxHost: host, ip: ips[i]!, port: target.port, auth: target.auth, requireTls: target.requireTls, tls: tlsConnect };
        const conn = await smtp.session(t, ips.slice(i + 1));
        const ip = conn.kind === 'ok' ? conn.session.target.ip : conn.kind === 'failed' ? (conn.ip ?? t.ip) : t.ip;
        i = conn.kind === 'failed' && conn.used ? i + conn.used : ips.indexOf(ip) + 1 || i + 1;
        if (conn.kind === 'throttled') return throttle({ recipients, host, reason: 'concurrency', ctx });
        if (conn.kind === 'ok') {
          // Checked before MAIL FROM: nothing of the message has gone over a session that fails the policy.
          const check = checkSession(hostReq, conn.session.tlsFacts());
          if (conn.session.messages === 0 && (hostReq.level !== 'may' || conn.session.tls)) await recordTls(ctx, hostReq, host, ip, check);
          if (!check.ok) log.warn({ event: EVENTS.tlsPolicyFailed, ...ctx, mx: host, remoteIp: ip, resultType: check.resultType, detail: check.detail, enforced: check.enforced }, 'TLS does not meet the destination\'s policy');
          if (!check.ok && check.enforced) {
            await smtp.release(conn.session, false);
            const reply = tlsFailureReply(ctx.domain, host, hostReq, check);
            last = { outcome: 'deferred', reply, mx: host };
            metrics.attempts.inc({ outcome: 'failover' });
            await store.startAttempt({ messageId: message.id, domain: ctx.domain, recipients, mxHost: host, ip, port: target.port, tls: true, worker, at: clock() }, 'failover', reply);
            continue;
          }
        }
        if (conn.kind === 'failed') {
          const tlsReq = connectMode(hostReq) === 'require' && conn.tls;
          if (tlsReq) await recordTls(ctx, hostReq, host, ip, { ok: false, resultType: conn.tls!, detail: conn.error });
          const reply = (tlsReq ? tlsFailureReply(ctx.domain, host, hostReq, { ok: false, enforced: true, resultType: conn.tls!, detail: conn.reply?.trim() || conn.error }) : undefined)
            ?? (conn.reply?.trim() || `451 4.4.1 Connect to ${host}[${ip}]:${target.port} failed (${conn.error})`);
          last = { outcome: 'deferred', reply, mx: host };
          metrics.attempts.inc({ outcome: 'failover' });
          await store.startAttempt({ messageId: message.id, domain: ctx.domain, recipients, mxHost: host, ip, port: target.port, tls: false, worker, at: clock() }, 'failover', reply);
          log.info({ event: EVENTS.failover, ...ctx, mx: host, remoteIp: ip, reply: conn.reply, error: conn.error }, 'MX unavailable, trying the next');
          continue;
        }
        return transaction({ message, group, session: conn.session, ctx });
      }
    }
    if (requireTlsRefused === allowed.length) {
      const reply = `550 5.7.30 REQUIRETLS: no MTA-STS (enforce) or DANE policy of ${ctx.domain} lets TLS be verified (RFC 8689)`;
      return withoutSession(everyone({ outcome: 'bounced', reply, mx: null }), 'bounced', reply);
    }
    return withoutSession(everyone(last), 'deferred', last.reply);
  }

  async function plan(domain: string): Promise<Target> {
    const sh = smarthost;
    if (sh && (sh.domains.length === 0 || sh.domains.includes(domain.toLowerCase()))) {
      const literal = /^[\d.]+$|:/.test(sh.host) ? sh.host : undefined;
      return { kind: 'hosts', hosts: [sh.host], port: sh.port, ...(literal ? { fixedIp: literal } : {}), auth: sh.auth, requireTls: sh.requireTls && !!sh.auth, smarthost: true };
    }
    const mx = await dns.mx(domain);
    if (!mx.ok && mx.kind === 'nxdomain') return { kind: 'decided', result: { outcome: 'bounced', reply: `550 5.1.2 Host or domain name not found: ${domain} (NXDOMAIN)`, mx: null } };
    if (!mx.ok && mx.kind === 'temporary') return { kind: 'decided', result: { outcome: 'deferred', reply: `451 4.4.3 MX lookup of ${domain} failed (${mx.code})`, mx: null } };
    const planned = planMx(domain, mx.ok ? mx.value : 'nodata');
    if (planned.kind === 'null-mx') return { kind: 'decided', result: { outcome: 'bounced', reply: `556 5.1.10 ${domain} does not accept mail (Null MX, RFC 7505)`, mx: null } };
    if (planned.implicit) {
      // RFC 5321 §5.1: no MX → the domain's own address records; none at all is an error.
      const a = await dns.addresses(domain);
      if (!a.ok && a.kind !== 'temporary') return { kind: 'decided', result: { outcome: 'bounced', reply: `550 5.1.2 ${domain} has no MX and no address records`, mx: null } };
    }
    return { kind: 'hosts', hosts: planned.hosts, port, requireTls: false, smarthost: false };
  }

  async function transaction({ message, group, session: s, ctx }: { message: WorkMessage; group: Group; session: Session; ctx: JobContext }): Promise<void> {
    const { recipients } = group;
    const host = s.target.mxHost;
    const ext = s.extensions;
    const base = { messageId: message.id, domain: ctx.domain, recipients, mxHost: host, ip: s.target.ip, port: s.target.port, tls: s.tls, worker };
    // RFC 6152: 8-bit data only to a server that offers 8BITMIME. We bounce rather than
    // downgrade (re-encoding would break DKIM signatures and MIME structure we do not parse).
    const refuse = message.requireTls && !ext.includes('REQUIRETLS')
      ? `550 5.7.30 ${host} does not support REQUIRETLS, required by this message (RFC 8689)`
      : message.smtputf8 && !ext.includes('SMTPUTF8')
      ? `554 5.6.7 ${host} does not support SMTPUTF8, required by this message (RFC 6531)`
      : message.bodyBinary && !(ext.includes('CHUNKING') && ext.includes('BINARYMIME'))
        ? `554 5.6.3 ${host} does not support CHUNKING and BINARYMIME, required by this binary message (RFC 3030)`
      : message.body8bit && !ext.includes('8BITMIME')
        ? `554 5.6.3 ${host} does not support 8BITMIME, required by this message (RFC 6152)`
        : s.maxSize > 0 && message.size > s.maxSize
          ? `552 5.3.4 Message size ${message.size} exceeds ${host}'s limit ${s.maxSize}`
          : null;
    let reusable = false;
    try {
      if (refuse) {
        reusable = true;
        const attemptId = await store.startAttempt({ ...base, at: clock() });
        const results = recipients.map((recipient) => ({ recipient, result: { outcome: 'bounced' as const, reply: refuse, mx: host } }));
        return await finish({ message, results, attemptId, attemptOutcome: 'bounced', attemptReply: refuse, tls: s.tls, ctx });
      }
      const started0 = await store.startAttemptWithRaw({ ...base, at: clock() });
      const attemptId = started0.attemptId;
      // A BINARYMIME body is octets, not lines: never re-wrapped or folded (RFC 3030 §3).
      const { bytes: raw, auth } = await authenticate(message.bodyBinary ? started0.raw : foldLongLines(toCrlf(started0.raw)), group, message.dkimEpoch, { ...ctx });
      const started = Date.now();
      const dsn = { ret: message.dsnRet, envid: message.dsnEnvid, recipients: new Map(recipients.map((r) => [r.address, { notify: r.notify, orcpt: r.orcpt }])) };
      const res = await s.send({ from: group.mailFrom, to: recipients.map((r) => r.address), size: raw.length, use8BitMime: message.body8bit && !message.bodyBinary, smtputf8: message.smtputf8, requireTls: message.requireTls, dsn, binaryMime: message.bodyBinary }, raw);
      if (testHoldAfterDataMs > 0) await sleep(testHoldAfterDataMs);
      if (res.lost && res.dataSent) {
        log.warn({ event: EVENTS.possibleDuplicate, ...ctx, mx: host, remoteIp: s.target.ip }, 'connection lost after the end of data; the remote may have accepted the message');
      }
      const results = recipients.map((recipient) => {
        const reply = res.replies.get(recipient.address) ?? '451 4.4.2 No reply for this recipient';
        const c = classify(parseReply(reply));
        return { recipient, result: { outcome: c.outcome, reply: reply.trim(), mx: host } };
      });
      const outcomes = new Set(results.map((x) => x.result.outcome));
      const attemptOutcome: AttemptOutcome = res.lost && res.dataSent ? 'possible-duplicate' : outcomes.size > 1 ? 'mixed' : [...outcomes][0]!;
      metrics.sessionSeconds.observe((Date.now() - started) / 1000);
      reusable = !res.lost && !/^421/.test(res.dataReply ?? '');
      // If recording fails (PostgreSQL down) the attempt stays in-progress: the next run logs a
      // possible duplicate and delivers again. At-least-once, never lost.
      await finish({ message, results, attemptId, attemptOutcome, attemptReply: res.dataReply ?? results[0]?.result.reply ?? null, tls: s.tls, ctx, envelopeFrom: group.mailFrom, auth, dsnHop: ext.includes('DSN') });
    } finally {
      // Always hand the connection and its Redis slot back, whatever failed above.
      await smtp.release(s, reusable);
    }
  }

  async function throttle({ recipients, host, reason, ctx }: { recipients: WorkRecipient[]; host: string; reason: 'rate' | 'concurrency'; ctx: JobContext }): Promise<void> {
    metrics.throttled.inc({ reason });
    log.info({ event: EVENTS.throttled, ...ctx, mx: host, reason }, 'destination at its limit, trying later');
    await store.postpone(recipients.map((r) => r.id), new Date(clock().getTime() + throttleDelayMs));
  }

  /**
   * Records every recipient's result (one transaction), then hands the DSNs it calls for to
   * send-dsn. Redis failing at that moment loses nothing: the bounced rows still owe their DSN
   * in PostgreSQL (the scheduler's sweep adds the job), and an unwarned deferred recipient is
   * warned after its next attempt.
   */
  async function finish({ message, results, attemptId, attemptOutcome, attemptReply, tls, ctx, envelopeFrom, auth, dsnHop = false }: Finish): Promise<void> {
    const now = clock();
    const nullSender = message.mailFrom === '';
    const updates: RecipientUpdate[] = results.map(({ recipient: r, result }) => {
      if (result.outcome === 'delivered') return { id: r.id, status: 'delivered', nextAttemptAt: null, reply: result.reply, mx: result.mx, successPassedOn: dsnHop && asksSuccess(r) };
      if (result.outcome === 'deferred') {
        const next = afterTemporaryFailure(policy, message.receivedAt, r.attempts + 1, now);
        if (next.kind === 'retry') return { id: r.id, status: 'deferred', nextAttemptAt: next.nextAttemptAt, reply: result.reply, mx: result.mx };
      }
      return { id: r.id, status: nullSender ? 'failed' : 'bounced', nextAttemptAt: null, reply: result.reply, mx: result.mx };
    });
    if (attemptId === null && results.length) {
      await store.startAttempt({ messageId: message.id, domain: ctx.domain, recipients: results.map((x) => x.recipient), mxHost: null, ip: null, port: null, tls: false, worker, at: now }, attemptOutcome, attemptReply);
    }
    await store.record({ attemptId, outcome: attemptOutcome, reply: attemptReply, tls, updates, envelopeFrom: envelopeFrom ?? null, auth: auth ?? null });
    updates.forEach((u, i) => {
      metrics.recipients.inc({ outcome: u.status });
      if (u.status === 'delivered') metrics.latency.observe((now.getTime() - message.receivedAt.getTime()) / 1000);
      const level = u.status === 'delivered' ? 'info' : 'warn';
      log[level]({ event: STATUS_EVENT[u.status], ...ctx, rcpt: results[i]!.recipient.address, mx: u.mx, reply: u.reply, nextAttemptAt: u.nextAttemptAt }, `recipient ${u.status}`);
    });
    metrics.attempts.inc({ outcome: attemptOutcome });

    const owed: DsnReason[] = [];
    if (updates.some((u) => u.status === 'bounced')) owed.push('failed');
    const warn = (i: number) => updates[i]!.status === 'deferred' && needsDelayWarning(policy, message.receivedAt, now, results[i]!.recipient.delayWarnedAt !== null);
    if (!nullSender && results.some((_, i) => warn(i))) owed.push('delayed');
    // RFC 3461 §6.2.6.2: a hop without DSN ends the chain, so we report "relayed".
    if (!nullSender && !dsnHop && updates.some((u, i) => u.status === 'delivered' && asksSuccess(results[i]!.recipient))) owed.push('success');
    await handOff(
      sendDsn,
      owed.map((reason) => ({ messageId: message.id, reason })),
      // ensure: a job of this id that BullMQ kept as failed is retried, not a silent no-op
      // (the sweep re-adds only 'failed' reasons; a lost 'delayed' one would wait for 7 days).
      { logger: log, event: EVENTS.sendDsnEnqueueFailed, fields: { ...ctx, reasons: owed }, message: 'could not enqueue send-dsn; the scheduler sweep (failures) or the next attempt (delays) will', ensure: true },
    );
  }
}
