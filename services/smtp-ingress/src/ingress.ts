// What each SMTP step does: gather the facts, ask the pure policy, act on its verdict.
// Sockets and smtp-server's callbacks stay in adapters/smtp-listener.ts.

import { newMessageId, resolveRecipient, type Directory, type ResolveOptions } from '@hopmail/mail';
import type { Logger } from 'pino';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { Accounts } from './adapters/accounts.ts';
import type { AuthLimiter } from './adapters/auth-limiter.ts';
import type { MessageStore } from './adapters/store.ts';
import { EVENTS, IngressError } from './errors.ts';
import type { IngressMetrics } from './metrics.ts';
import { AUTH_FAILED, AUTH_LOCKED, authzidPolicy, throttlePolicy } from './policy/auth-policy.ts';
import { connectPolicy } from './policy/connect-policy.ts';
import { fromHeaderPolicy, senderPolicy } from './policy/sender-policy.ts';
import { dataPolicy } from './policy/data-policy.ts';
import { mailPolicy } from './policy/mail-policy.ts';
import { rcptPolicy, rcptSyntaxPolicy } from './policy/rcpt-policy.ts';
import { ACCEPT, defer, type Verdict } from './policy/verdict.ts';
import { scanMessage } from './protocol/message.ts';
import { protocolType, receivedHeader } from './protocol/received.ts';
import { fromAddresses, missingSubmissionFields } from './protocol/submission.ts';
import { SessionRegistry, type ConnectionState } from './session.ts';

export interface IngressOptions {
  hostname: string;
  maxConnectionsPerIp: number;
  maxMessageSize: number;
  maxReceivedHeaders: number;
  resolve: ResolveOptions;
  auth: {
    maxPerIp: number;
    maxPerAccount: number;
    baseDelayMs: number;
    maxDelayMs: number;
  };
}

export interface AuthAttempt {
  method: string;
  username: string;
  password: string;
  /** PLAIN's authorization identity ('' when absent or for LOGIN). */
  authzid: string;
}

export interface IngressDeps {
  options: IngressOptions;
  directory: Directory;
  store: MessageStore;
  accounts: Accounts;
  limiter: AuthLimiter;
  logger: Logger;
  metrics: IngressMetrics;
  /** Waits before a failed AUTH is answered (tests may shorten it). */
  sleep?: (ms: number) => Promise<void>;
}

export type DataOutcome = { verdict: Verdict; reply?: string };

export function createIngress(deps: IngressDeps) {
  const { options, directory, store, accounts, limiter, logger, metrics } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const sessions = new SessionRegistry();
  let closing = false;

  const rejected = (stage: string, v: Verdict) => {
    if (v.kind !== 'accept') metrics.rejected.inc({ stage, reason: v.reason });
  };
  const stateOf = (session: SMTPServerSession, listener = 'mx'): ConnectionState =>
    sessions.get(session.id) ??
    // A hook for a session whose onConnect we never saw cannot happen; stay safe anyway.
    { sessionId: session.id, remoteIp: session.remoteAddress, listener, log: logger.child({ sessionId: session.id, remoteIp: session.remoteAddress }), user: null, mailbox: null, requireAuth: true, openedAt: Date.now(), messages: 0 };

  return {
    sessions,
    setClosing() {
      closing = true;
    },

    /** Protocol-level refusals decided in the connection adapter (line length, error limit). */
    recordProtocolReject(stage: 'connect' | 'protocol' | 'auth', reason: string): void {
      metrics.rejected.inc({ stage, reason });
    },

    connect(session: SMTPServerSession, listener: string, requireAuth = false): Verdict {
      const remoteIp = session.remoteAddress;
      const v = connectPolicy({ remoteIp, openFromIp: sessions.openFrom(remoteIp), maxPerIp: options.maxConnectionsPerIp, closing, hostname: options.hostname });
      const log = logger.child({ sessionId: session.id, remoteIp });
      metrics.connections.inc({ listener, result: v.kind === 'accept' ? 'accepted' : v.reason });
      if (v.kind !== 'accept') {
        rejected('connect', v);
        log.warn({ event: EVENTS.connectRefused, reason: v.reason }, 'connection refused');
        return v;
      }
      sessions.open({ sessionId: session.id, remoteIp, listener, log: log.child({ listener }), user: null, mailbox: null, requireAuth, openedAt: Date.now(), messages: 0 });
      metrics.activeConnections.inc({ listener });
      log.debug({ event: EVENTS.connect, rdns: session.clientHostname }, 'connect');
      return v;
    },

    close(session: SMTPServerSession): void {
      const state = sessions.close(session.id);
      if (!state) return;
      metrics.activeConnections.dec({ listener: state.listener });
      state.log.debug({ event: EVENTS.disconnect, messages: state.messages, ms: Date.now() - state.openedAt }, 'disconnect');
    },

    /** RFC 3207 §4.2: after the handshake nothing learnt before it counts (smtp-server resets EHLO and the envelope). */
    secure(session: SMTPServerSession): void {
      const state = stateOf(session);
      state.user = null;
      state.mailbox = null;
      const c = session.tlsOptions as { name?: string; standardName?: string; version?: string } | false | undefined;
      metrics.tlsHandshakes.inc({ listener: state.listener, version: (c && c.version) || 'unknown' });
      state.log.debug({ event: EVENTS.tls, cipher: c ? c.standardName ?? c.name : undefined, version: c ? c.version : undefined, servername: (session as { servername?: string }).servername }, 'TLS established');
    },

    /**
     * AUTH PLAIN / LOGIN (RFC 4954, RFC 4616). Smtp-server only calls this inside TLS (the
     * connection answers 538 5.7.11 in clear). Unknown user and wrong password: the same
     * Argon2id cost, the same delay, the same reply.
     */
    async auth(a: AuthAttempt, session: SMTPServerSession): Promise<{ verdict: Verdict; user?: string }> {
      const state = stateOf(session);
      const ip = session.remoteAddress;
      const fail = (v: Verdict, extra: Record<string, unknown> = {}) => {
        rejected('auth', v);
        const reason = v.kind === 'accept' ? 'unknown' : v.reason;
        metrics.auth.inc({ listener: state.listener, result: reason });
        state.log.info({ event: EVENTS.authFailed, user: a.username, method: a.method, reason, ...extra }, 'authentication failed');
        return { verdict: v };
      };
      const idv = authzidPolicy({ authzid: a.authzid, username: a.username });
      if (idv.kind !== 'accept') return fail(idv);
      const counts = await limiter.failures(ip, a.username);
      const t = throttlePolicy({ ipFailures: counts.ip, accountFailures: counts.account, ...options.auth });
      if (t.locked) {
        state.log.warn({ event: EVENTS.authLocked, user: a.username, ipFailures: counts.ip, accountFailures: counts.account }, 'authentication refused: too many failures for this address or account');
        // Hammering a locked account keeps costing the address (the windows are not extended).
        await limiter.recordFailure(ip, a.username);
        await sleep(t.delayMs);
        return fail(AUTH_LOCKED, { ipFailures: counts.ip, accountFailures: counts.account });
      }
      let mailbox;
      try {
        mailbox = await accounts.authenticate(a.username, a.password);
      } catch (err) {
        // PostgreSQL unreachable: RFC 4954 §6's temporary failure, never a 535.
        state.log.error({ event: EVENTS.lookupFailed, user: a.username, err }, 'password lookup failed');
        return fail(defer(454, '4.7.0', 'Temporary authentication failure, try again later', 'lookup-failed'));
      }
      if (!mailbox) {
        await limiter.recordFailure(ip, a.username);
        await sleep(t.delayMs);
        return fail(AUTH_FAILED, { delayMs: t.delayMs });
      }
      await limiter.recordSuccess(a.username);
      state.user = mailbox.address;
      state.mailbox = mailbox;
      metrics.auth.inc({ listener: state.listener, result: 'ok' });
      state.log.info({ event: EVENTS.authOk, user: mailbox.address, method: a.method }, 'authenticated');
      return { verdict: { kind: 'accept' }, user: mailbox.address };
    },

    async mailFrom(address: SMTPServerAddress, session: SMTPServerSession): Promise<Verdict> {
      const state = stateOf(session);
      let v = mailPolicy({ address: address.address, smtputf8: session.envelope.smtpUtf8 === true, requireAuth: state.requireAuth, authenticated: state.user !== null });
      if (v.kind === 'accept' && state.mailbox) {
        try {
          const owned = address.address === '' ? false : await accounts.owns(state.mailbox, address.address);
          v = senderPolicy({ address: address.address, owned, stage: 'envelope', user: state.mailbox.address });
        } catch (err) {
          state.log.error({ event: EVENTS.lookupFailed, from: address.address, err }, 'sender lookup failed');
          const e = new IngressError('lookupFailed', 'lookup failed', err).smtp!;
          v = defer(e.code, e.enhanced, e.text, 'lookup-failed');
        }
      }
      if (v.kind === 'accept') sessions.beginTransaction(session.envelope, { mailFrom: address.address, startedAt: Date.now() });
      else {
        rejected('mail', v);
        state.log.info({ event: EVENTS.mailRejected, from: address.address, reason: v.reason }, 'sender rejected');
      }
      return v;
    },

    async rcptTo(address: SMTPServerAddress, session: SMTPServerSession): Promise<Verdict> {
      const state = stateOf(session);
      // RFC 5321 §4.1.1.3: <postmaster> without a domain must be accepted; it is ours.
      if (address.address.toLowerCase() === 'postmaster') address.address = `postmaster@${options.hostname}`;
      const to = address.address;
      let v = rcptSyntaxPolicy({ address: to, smtputf8: session.envelope.smtpUtf8 === true });
      if (!v) {
        try {
          const resolution = await resolveRecipient(to, directory, options.resolve);
          v = rcptPolicy({ address: to, resolution, authenticated: state.user !== null });
        } catch (err) {
          state.log.error({ event: EVENTS.lookupFailed, to, err }, 'recipient lookup failed');
          const e = new IngressError('lookupFailed', 'lookup failed', err).smtp!;
          v = defer(e.code, e.enhanced, e.text, 'lookup-failed');
        }
      }
      if (v.kind !== 'accept') {
        rejected('rcpt', v);
        state.log.info({ event: EVENTS.rcptRejected, from: session.envelope.mailFrom && session.envelope.mailFrom.address, to, reason: v.reason, code: v.code }, 'recipient rejected');
      }
      return v;
    },

    /** Reads the message and decides; 250 only once it is committed. */
    data(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<DataOutcome> {
      const state = stateOf(session);
      const id = newMessageId();
      const envelope = session.envelope;
      const recipients = envelope.rcptTo.map((r) => r.address);
      const mailFrom = envelope.mailFrom ? envelope.mailFrom.address : '';
      const smtputf8 = envelope.smtpUtf8 === true;
      return new Promise<DataOutcome>((resolve) => {
        let chunks: Buffer[] = [];
        let size = 0;
        let ended = false;
        stream.on('data', (chunk: Buffer) => {
          if (stream.sizeExceeded) {
            // Keep draining (the client is still sending) but hold on to nothing.
            if (chunks.length) chunks = [];
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        });
        stream.on('error', () => {});
        stream.on('close', () => {
          if (ended) return;
          chunks = [];
          state.log.info({ event: EVENTS.messageAborted, msgId: id, bytes: stream.byteLength }, 'connection lost during DATA; nothing stored');
          const v = defer(451, '4.4.2', 'Connection lost during DATA', 'aborted');
          rejected('data', v);
          resolve({ verdict: v });
        });
        stream.on('end', () => {
          ended = true;
          const header = Buffer.from(
            receivedHeader({
              helo: session.hostNameAppearsAs || session.remoteAddress,
              rdns: session.clientHostname && !session.clientHostname.startsWith('[') ? session.clientHostname : null,
              ip: session.remoteAddress,
              hostname: options.hostname,
              protocol: protocolType({ ehlo: session.openingCommand === 'EHLO', tls: session.secure, auth: state.user !== null, smtputf8 }),
              id,
              recipients,
              date: new Date(),
            }),
            'utf8',
          );
          const sizeExceeded = stream.sizeExceeded;
          let raw = sizeExceeded ? null : Buffer.concat([header, ...chunks], header.length + size);
          chunks = [];
          const scan = raw ? scanMessage(raw.subarray(header.length)) : null;
          const v = dataPolicy({ sizeExceeded, maxSize: options.maxMessageSize, scan, maxReceived: options.maxReceivedHeaders });
          const refuse = (v: Verdict) => {
            rejected('data', v);
            state.log.info({ event: EVENTS.messageRejected, msgId: id, from: mailFrom, reason: v.kind === 'accept' ? 'unknown' : v.reason, bytes: stream.byteLength }, 'message rejected');
            resolve({ verdict: v });
          };
          if (v.kind !== 'accept' || !raw || !scan) return refuse(v);
          const mailbox = state.mailbox;
          // Submission (RFC 6409): the author must be the user, and Date / Message-ID are
          // added when the client left them out (§8.2, §8.3).
          const submitted = async (): Promise<Verdict> => {
            if (!mailbox || !raw) return ACCEPT;
            const body = raw.subarray(header.length);
            const from = fromAddresses(body);
            const fv = fromHeaderPolicy({ addresses: from });
            if (fv.kind !== 'accept') return fv;
            for (const a of from!) {
              let owned: boolean;
              try {
                owned = await accounts.owns(mailbox, a);
              } catch (err) {
                state.log.error({ event: EVENTS.lookupFailed, msgId: id, from: a, err }, 'From: address lookup failed');
                const e = new IngressError('lookupFailed', 'lookup failed', err).smtp!;
                return defer(e.code, e.enhanced, e.text, 'lookup-failed');
              }
              const sv = senderPolicy({ address: a, owned, stage: 'header', user: mailbox.address });
              if (sv.kind !== 'accept') return sv;
            }
            const added = missingSubmissionFields(body, { id, hostname: options.hostname, date: new Date() });
            if (added.fields) {
              const extra = Buffer.from(added.fields, 'utf8');
              raw = Buffer.concat([header, extra, body], raw.length + extra.length);
              if (added.messageId) scan.messageId = added.messageId;
            }
            return ACCEPT;
          };
          submitted()
            .then((sv) => {
              if (sv.kind !== 'accept') {
                refuse(sv);
                return null;
              }
              return store.commit({
                id,
                raw: raw!,
                mailFrom,
                recipients,
                clientIp: session.remoteAddress,
                clientHelo: session.hostNameAppearsAs || null,
                authUser: state.user,
                tls: session.secure,
                smtputf8,
                body8bit: scan.eightBit,
                headerMessageId: scan.messageId,
              });
            })
            .then(
              (r) => {
                if (r === null) return;
                state.messages++;
                metrics.accepted.inc({ listener: state.listener });
                metrics.messageSize.observe(size);
                if (!r.enqueued) {
                  metrics.enqueueFailures.inc();
                  state.log.warn({ event: EVENTS.enqueueFailed, msgId: id, err: r.error }, 'message committed but route-message job not added; the reconciler will re-enqueue it');
                }
                const tx = sessions.transaction(envelope);
                state.log.info({ event: EVENTS.messageAccepted, msgId: id, from: mailFrom, rcpts: recipients.length, size, ms: tx ? Date.now() - tx.startedAt : undefined }, 'message accepted');
                resolve({ verdict: { kind: 'accept' }, reply: `2.0.0 Ok: queued as ${id}` });
              },
              (err: unknown) => {
                const e = err instanceof IngressError ? err : new IngressError('storeFailed', String(err), err);
                state.log.error({ event: EVENTS.storeFailed, msgId: id, err: e.cause ?? e }, 'message not stored');
                const v = defer(e.smtp!.code, e.smtp!.enhanced, e.smtp!.text, 'store-failed');
                rejected('data', v);
                resolve({ verdict: v });
              },
            );
        });
      });
    },
  };
}

export type Ingress = ReturnType<typeof createIngress>;
