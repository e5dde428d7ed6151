// deliver-remote {messageId, domain}: one try at delivering the due recipients of one message
// at one destination domain. PostgreSQL decides what is due; every outcome is recorded there
// before the job ends, so a job that runs twice (stalled worker, scheduler) does no harm
// beyond what SMTP itself cannot prevent (a duplicate at the remote, logged).
import { hostname as osHostname } from 'node:os';
import type { Payload } from '@hopmail/queue';
import type { Logger } from 'pino';
import type { Dns } from '../adapters/dns.ts';
import type { SmtpPool, SmtpTarget, Session } from '../adapters/smtp-client.ts';
import type { Limits } from '../adapters/limits.ts';
import type { AttemptOutcome, RecipientUpdate, RelayStore, WorkMessage, WorkRecipient } from '../adapters/store.ts';
import { classify, parseReply, type Outcome } from '../policy/classify.ts';
import { isLoop, planMx } from '../policy/mx-plan.ts';
import { afterTemporaryFailure, isExpired, needsDelayWarning, type RetryPolicy } from '../policy/retry.ts';
import { toCrlf } from '../protocol/wire.ts';
import type { DsnSender } from './dsn.ts';
import type { RelayMetrics } from '../metrics.ts';

export interface DeliverDeps {
  store: RelayStore;
  dns: Dns;
  smtp: SmtpPool;
  limits: Limits;
  dsn: DsnSender;
  logger: Logger;
  metrics: RelayMetrics;
  policy: RetryPolicy;
  now: () => Date;
  hostname: string;
  port: number;
  allowLoopback: boolean;
  ownAddresses: ReadonlySet<string>;
  throttleDelayMs: number;
  smarthost: { host: string; port: number; domains: readonly string[]; auth?: { user: string; pass: string }; requireTls: boolean } | null;
  testHoldAfterDataMs: number;
}

type Verdict = { outcome: Outcome; reply: string; mx: string | null };

const worker = `${osHostname()}:${process.pid}`;

export function createDeliverRemote(d: DeliverDeps) {
  const log = d.logger;

  return async function deliverRemote(p: Payload<'deliver-remote'>, jobId?: string): Promise<void> {
    const now = d.now();
    const work = await d.store.loadWork(p.messageId, p.domain, now);
    if (!work || work.recipients.length === 0) return;
    const { message, recipients } = work;
    const ctx = { msgId: message.id, domain: p.domain, jobId };

    for (const a of await d.store.claimCrashedAttempts(message.id, p.domain)) {
      log.warn({ event: 'relay.possible-duplicate', ...ctx, attemptId: a.id, mx: a.mx_host, recipients: a.recipients }, 'previous attempt died before its result was recorded; the remote may have the message already');
    }

    if (isExpired(d.policy, message.receivedAt, now)) {
      // RFC 3463 X.4.7; the DSN reports it as Action: failed with the last reason we had.
      const expired = (r: WorkRecipient) => `451 4.4.7 Delivery time expired after ${Math.round(d.policy.maxAgeMs / 1000)}s${r.lastReply ? ` (last: ${r.lastReply.replace(/[\r\n]+/g, ' ')})` : ''}`;
      return finish(message, recipients.map((r) => ({ r, v: { outcome: 'bounced' as const, reply: expired(r), mx: null } })), null, 'bounced', null, false, ctx);
    }

    const all = (v: Verdict) => recipients.map((r) => ({ r, v }));
    const target = await plan(p.domain);
    if (target.kind === 'verdict') {
      return finish(message, all(target.v), null, target.v.outcome === 'bounced' ? 'bounced' : 'deferred', target.v.reply, false, ctx);
    }

    let last: Verdict = { outcome: 'deferred', reply: `451 4.4.1 No MX host of ${p.domain} reachable`, mx: null };
    for (const host of target.hosts) {
      if (!target.smarthost && isLoop({ mxHost: host, ourHostname: d.hostname, ownAddresses: d.ownAddresses, allowLoopback: d.allowLoopback })) {
        return finish(message, all({ outcome: 'bounced', reply: `554 5.4.6 Mail for ${p.domain} loops back to myself (MX ${host})`, mx: null }), null, 'bounced', null, false, ctx);
      }
      let ips: string[];
      if (target.fixedIp) ips = [target.fixedIp];
      else {
        const a = await d.dns.addresses(host);
        if (!a.ok) {
          last = { outcome: 'deferred', reply: `451 4.4.3 Address lookup of ${host} failed (${a.code})`, mx: null };
          log.info({ event: 'relay.mx-unresolvable', ...ctx, mx: host, code: a.code }, 'MX host has no usable address');
          continue;
        }
        ips = a.value;
      }
      for (const ip of ips) {
        // A configured smarthost may well be on loopback (a local filter); only MX data is suspect.
        if (!target.smarthost && isLoop({ mxHost: host, ip, ourHostname: d.hostname, ownAddresses: d.ownAddresses, allowLoopback: d.allowLoopback })) {
          return finish(message, all({ outcome: 'bounced', reply: `554 5.4.6 Mail for ${p.domain} loops back to myself (MX ${host}[${ip}])`, mx: null }), null, 'bounced', null, false, ctx);
        }
        if (!(await d.limits.takeRate(host))) return throttle(recipients, host, 'rate', ctx);
        const t: SmtpTarget = { mxHost: host, ip, port: target.port, auth: target.auth, requireTls: target.requireTls };
        const conn = await d.smtp.session(t);
        if (conn.kind === 'throttled') return throttle(recipients, host, 'concurrency', ctx);
        if (conn.kind === 'failed') {
          const reply = conn.reply?.trim() || `451 4.4.1 Connect to ${host}[${ip}]:${target.port} failed (${conn.error})`;
          last = { outcome: 'deferred', reply, mx: host };
          d.metrics.attempts.inc({ outcome: 'failover' });
          await d.store.startAttempt({ messageId: message.id, domain: p.domain, recipients, mxHost: host, ip, port: target.port, tls: false, worker, at: d.now() }, 'failover', reply);
          log.info({ event: 'relay.failover', ...ctx, mx: host, remoteIp: ip, reply: conn.reply, error: conn.error }, 'MX unavailable, trying the next');
          continue;
        }
        return transaction(message, recipients, conn.session, p.domain, ctx);
      }
    }
    return finish(message, all(last), null, 'deferred', last.reply, false, ctx);
  };

  async function plan(domain: string): Promise<
    | { kind: 'verdict'; v: Verdict }
    | { kind: 'hosts'; hosts: string[]; port: number; fixedIp?: string; auth?: { user: string; pass: string } | undefined; requireTls: boolean; smarthost: boolean }
  > {
    const sh = d.smarthost;
    if (sh && (sh.domains.length === 0 || sh.domains.includes(domain.toLowerCase()))) {
      const literal = /^[\d.]+$|:/.test(sh.host) ? sh.host : undefined;
      return { kind: 'hosts', hosts: [sh.host], port: sh.port, ...(literal ? { fixedIp: literal } : {}), auth: sh.auth, requireTls: sh.requireTls && !!sh.auth, smarthost: true };
    }
    const mx = await d.dns.mx(domain);
    if (!mx.ok && mx.kind === 'nxdomain') return { kind: 'verdict', v: { outcome: 'bounced', reply: `550 5.1.2 Host or domain name not found: ${domain} (NXDOMAIN)`, mx: null } };
    if (!mx.ok && mx.kind === 'temporary') return { kind: 'verdict', v: { outcome: 'deferred', reply: `451 4.4.3 MX lookup of ${domain} failed (${mx.code})`, mx: null } };
    const planned = planMx(domain, mx.ok ? mx.value : 'nodata');
    if (planned.kind === 'null-mx') return { kind: 'verdict', v: { outcome: 'bounced', reply: `556 5.1.10 ${domain} does not accept mail (Null MX, RFC 7505)`, mx: null } };
    if (planned.implicit) {
      // RFC 5321 §5.1: no MX → the domain's own address records; none at all is an error.
      const a = await d.dns.addresses(domain);
      if (!a.ok && a.kind !== 'temporary') return { kind: 'verdict', v: { outcome: 'bounced', reply: `550 5.1.2 ${domain} has no MX and no address records`, mx: null } };
    }
    return { kind: 'hosts', hosts: planned.hosts, port: d.port, requireTls: false, smarthost: false };
  }

  async function transaction(message: WorkMessage, recipients: WorkRecipient[], s: Session, domain: string, ctx: Record<string, unknown>): Promise<void> {
    const host = s.target.mxHost;
    const ext = s.extensions;
    const base = { messageId: message.id, domain, recipients, mxHost: host, ip: s.target.ip, port: s.target.port, tls: s.tls, worker };
    // RFC 6152: 8-bit data only to a server that offers 8BITMIME. We bounce rather than
    // downgrade (re-encoding would break DKIM signatures and MIME structure we do not parse).
    const refuse = message.smtputf8 && !ext.includes('SMTPUTF8')
      ? `554 5.6.7 ${host} does not support SMTPUTF8, required by this message (RFC 6531)`
      : message.body8bit && !ext.includes('8BITMIME')
        ? `554 5.6.3 ${host} does not support 8BITMIME, required by this message (RFC 6152)`
        : s.maxSize > 0 && message.size > s.maxSize
          ? `552 5.3.4 Message size ${message.size} exceeds ${host}'s limit ${s.maxSize}`
          : null;
    let reusable = false;
    try {
      if (refuse) {
        reusable = true;
        const id = await d.store.startAttempt({ ...base, at: d.now() });
        return await finish(message, recipients.map((r) => ({ r, v: { outcome: 'bounced', reply: refuse, mx: host } })), id, 'bounced', refuse, s.tls, ctx);
      }
      const started0 = await d.store.startAttemptWithRaw({ ...base, at: d.now() });
      const attemptId = started0.attemptId;
      const raw = toCrlf(started0.raw);
      const started = Date.now();
      const res = await s.send({ from: message.mailFrom, to: recipients.map((r) => r.address), size: raw.length, use8BitMime: message.body8bit, smtputf8: message.smtputf8 }, raw);
      if (d.testHoldAfterDataMs > 0) await new Promise((r) => setTimeout(r, d.testHoldAfterDataMs));
      if (res.lost && res.dataSent) {
        log.warn({ event: 'relay.possible-duplicate', ...ctx, mx: host, remoteIp: s.target.ip }, 'connection lost after the end of data; the remote may have accepted the message');
      }
      const verdicts = recipients.map((r) => {
        const reply = res.replies.get(r.address) ?? '451 4.4.2 No reply for this recipient';
        const c = classify(parseReply(reply));
        return { r, v: { outcome: c.outcome, reply: reply.trim(), mx: host } };
      });
      const outcomes = new Set(verdicts.map((x) => x.v.outcome));
      const attemptOutcome: AttemptOutcome = res.lost && res.dataSent ? 'possible-duplicate' : outcomes.size > 1 ? 'mixed' : [...outcomes][0]!;
      d.metrics.sessionSeconds.observe((Date.now() - started) / 1000);
      reusable = !res.lost && !/^421/.test(res.dataReply ?? '');
      // If recording fails (PostgreSQL down) the attempt stays in-progress: the next run logs a
      // possible duplicate and delivers again. At-least-once, never lost.
      await finish(message, verdicts, attemptId, attemptOutcome, res.dataReply ?? verdicts[0]?.v.reply ?? null, s.tls, ctx);
    } finally {
      // Always hand the connection and its Redis slot back, whatever failed above.
      await d.smtp.release(s, reusable);
    }
  }

  async function throttle(recipients: WorkRecipient[], host: string, why: string, ctx: Record<string, unknown>): Promise<void> {
    d.metrics.throttled.inc({ reason: why });
    log.info({ event: 'relay.throttled', ...ctx, mx: host, reason: why }, 'destination at its limit, trying later');
    await d.store.postpone(recipients.map((r) => r.id), new Date(d.now().getTime() + d.throttleDelayMs));
  }

  /** Records every recipient's result (one transaction), then sends the DSNs it calls for. */
  async function finish(
    message: WorkMessage,
    verdicts: { r: WorkRecipient; v: Verdict }[],
    attemptId: number | null,
    attemptOutcome: AttemptOutcome,
    attemptReply: string | null,
    tls: boolean,
    ctx: Record<string, unknown>,
  ): Promise<void> {
    const now = d.now();
    const nullSender = message.mailFrom === '';
    const updates: RecipientUpdate[] = verdicts.map(({ r, v }) => {
      if (v.outcome === 'delivered') return { id: r.id, status: 'delivered', nextAttemptAt: null, reply: v.reply, mx: v.mx };
      if (v.outcome === 'deferred') {
        const next = afterTemporaryFailure(d.policy, message.receivedAt, r.attempts + 1, now);
        if (next.kind === 'retry') return { id: r.id, status: 'deferred', nextAttemptAt: next.nextAttemptAt, reply: v.reply, mx: v.mx };
      }
      return { id: r.id, status: nullSender ? 'failed' : 'bounced', nextAttemptAt: null, reply: v.reply, mx: v.mx };
    });
    if (attemptId === null && verdicts.length) {
      attemptId = await d.store.startAttempt({ messageId: message.id, domain: String(ctx.domain), recipients: verdicts.map((x) => x.r), mxHost: null, ip: null, port: null, tls: false, worker, at: now }, attemptOutcome, attemptReply);
      await d.store.record(null, attemptOutcome, attemptReply, tls, updates);
    } else {
      await d.store.record(attemptId, attemptOutcome, attemptReply, tls, updates);
    }
    for (const u of updates) {
      d.metrics.recipients.inc({ outcome: u.status });
      if (u.status === 'delivered') d.metrics.latency.observe((now.getTime() - message.receivedAt.getTime()) / 1000);
      const level = u.status === 'delivered' ? 'info' : 'warn';
      log[level]({ event: `relay.${u.status}`, ...ctx, rcpt: verdicts.find((x) => x.r.id === u.id)?.r.address, mx: u.mx, reply: u.reply, nextAttemptAt: u.nextAttemptAt }, `recipient ${u.status}`);
    }
    d.metrics.attempts.inc({ outcome: attemptOutcome });
    if (updates.some((u) => u.status === 'bounced')) await d.dsn.failures(message.id);
    const deferred = verdicts.filter((x, i) => updates[i]!.status === 'deferred');
    if (!nullSender && deferred.some((x) => needsDelayWarning(d.policy, message.receivedAt, now, x.r.delayWarnedAt !== null))) {
      await d.dsn.delays(message.id);
    }
  }
}
