// One smtp-server instance per listening port. Each hook is a few lines: report the
// session's facts to the ingress (which asks a pure policy), turn the verdict into
// smtp-server's callback. Only adapters/ import smtp-server, and only
// smtp-server-internals.ts touches its private parts.
//
// Listener roles: `mx` (port 25 / 2525 locally: STARTTLS when a certificate exists, no
// AUTH unless SMTP_MX_AUTH), `submission` (587 / 2587: STARTTLS, then AUTH, MAIL only
// after AUTH) and `submissions` (465 / 2465: implicit TLS, RFC 8314). Same hooks for all;
// the ListenerSpec says what differs. Certificates come from @hopmail/tls: the store's
// SNICallback picks the context of each new handshake, and the server's default context
// (clients without SNI) follows every reload, so renewals need no restart.

import dns from 'node:dns';
import { isIP } from 'node:net';
import type { SecureContext } from 'node:tls';
import { createPeriodic } from '@hopmail/service-kit';
import type { CertificateStore } from '@hopmail/tls';
import type { Logger } from 'pino';
import type { RecipientDsn } from '@hopmail/db';
import { SMTPServer, type SMTPServerAddress, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { ERRORS } from '../errors.ts';
import { EVENTS } from '../events.ts';
import type { Ingress } from '../ingress.ts';
import { replyText, type Verdict } from '../policy/verdict.ts';
import type { SessionFacts, TransactionFacts } from '../session.ts';
import { collectMessage } from './data-collector.ts';
import { boundTlsHandshakes, fastSessionStart, followDefaultContext, tellIdleSessions, useHopmailConnections, type HopmailConnection } from './smtp-server-internals.ts';

export type ListenerRole = 'mx' | 'submission' | 'submissions';

export interface ListenerSpec {
  /** Metric label and log field: `mx`, `submission`, `submissions`. */
  name: string;
  role: ListenerRole;
  host: string;
  port: number;
  /** `starttls`: offered (RFC 3207); `implicit`: TLS from the first byte (RFC 8314). */
  tls: 'none' | 'starttls' | 'implicit';
  /** AUTH PLAIN/LOGIN offered, inside TLS only. */
  auth: boolean;
  /** MAIL before AUTH is 530 5.7.0 (submission, RFC 6409 §4.3). */
  requireAuth: boolean;
}

export interface ListenerLimits {
  hostname: string;
  maxMessageSize: number;
  maxRecipients: number;
  maxLineLength: number;
  maxConnections: number;
  maxBadCommands: number;
  idleTimeoutMs: number;
  closeTimeoutMs: number;
  reverseLookup: boolean;
  maxAuthFailures: number;
  greetingDelayMs: number;
  /** SMTP_REFUSE_EARLY_PIPELINING: applied on the MX listener only (submission clients are authenticated, and some MUAs are sloppy). */
  refuseEarlyPipelining: boolean;
  sessionMaxMs: number;
  tlsHandshakeTimeoutMs: number;
}

/** smtp-server's buffer cap for one command line; lines past SMTP_MAX_LINE_LENGTH but under this get 500 5.5.2 and the session goes on. */
const LINE_BUFFER_CAP = 16 * 1024;

type SmtpError = Error & { responseCode: number };

function toSmtpError(v: Verdict): SmtpError | null {
  if (v.kind === 'accept') return null;
  return Object.assign(new Error(replyText(v)), { responseCode: v.code });
}

function internalError(log: Logger, err: unknown): SmtpError {
  log.error({ event: EVENTS.internal, err }, 'hook failed');
  const r = ERRORS.internal.smtp;
  return Object.assign(new Error(`${r.enhanced} ${r.text}`), { responseCode: r.code });
}

/** What the ingress is told about a session, read from smtp-server's session object. */
export function sessionFacts(session: SMTPServerSession): SessionFacts {
  const envelope = session.envelope;
  const cipher = session.tlsOptions;
  const rdns = session.clientHostname;
  return {
    sessionId: session.id,
    remoteIp: session.remoteAddress,
    localIp: session.localAddress || null,
    // smtp-server puts the address literal `[ip]` where no name is known.
    clientHostname: rdns && !rdns.startsWith('[') ? rdns : null,
    helo: session.hostNameAppearsAs || null,
    ehlo: session.openingCommand === 'EHLO',
    tls: session.secure,
    tlsCipher: cipher ? (cipher.standardName ?? cipher.name) : null,
    tlsVersion: cipher ? cipher.version : null,
    servername: session.servername || null,
    transaction: { key: envelope, mailFrom: envelope.mailFrom ? envelope.mailFrom.address : '', smtputf8: envelope.smtpUtf8 === true, requireTls: (envelope as { requireTLS?: boolean }).requireTLS === true, dsn: mailDsn(envelope.dsn), binaryMime: envelope.bodyType === 'binarymime' },
  };
}

/** RET and ENVID as smtp-server kept them (checked and xtext-decoded; see smtp-server-internals.ts). */
function mailDsn(dsn: { ret: string | null; envid: string | null } | undefined): TransactionFacts['dsn'] {
  return { ret: dsn?.ret === 'FULL' || dsn?.ret === 'HDRS' ? dsn.ret : null, envid: dsn?.envid || null };
}

/** NOTIFY and ORCPT of one RCPT TO, as smtp-server kept them. */
function recipientDsn(r: SMTPServerAddress): RecipientDsn | null {
  const dsn = r.dsn as { notify?: string[]; orcpt?: string } | undefined;
  return dsn ? { notify: dsn.notify ?? null, orcpt: dsn.orcpt ?? null } : null;
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');

export interface SmtpListener {
  server: SMTPServer;
  listen(): Promise<number>;
  /** Stops accepting, lets in-flight commands finish, then 421s whatever remains at the deadline. */
  close(): Promise<void>;
}

export interface SmtpListenerDeps {
  spec: ListenerSpec;
  limits: ListenerLimits;
  ingress: Ingress;
  logger: Logger;
  /** Required when the spec has TLS. */
  certificates: CertificateStore | null;
}

/** How often, during shutdown, idle sessions are looked for (see close()). */
const IDLE_SWEEP_MS = 50;

export function createSmtpListener(deps: SmtpListenerDeps): SmtpListener {
  const { spec, limits, ingress, logger, certificates } = deps;
  if (spec.tls !== 'none' && !certificates) throw new Error(`listener ${spec.name} needs a certificate`);
  const tls = spec.tls !== 'none' ? certificates : null;
  const disabled = ['XCLIENT', 'XFORWARD', 'WIZ', 'SHELL', 'KILL'];
  if (!spec.auth) disabled.push('AUTH');
  if (!tls) disabled.push('STARTTLS');
  const options: SMTPServerOptions = {
    name: limits.hostname,
    banner: 'Hopmail',
    heloResponse: '%s Hello %s',
    logger: false,
    secure: spec.tls === 'implicit',
    // XCLIENT/XFORWARD would let a client choose the address we log; the sendmail jokes
    // (WIZ, SHELL, KILL) stay out; AUTH only where the spec offers it, STARTTLS only with
    // a certificate (on an implicit-TLS listener it stays enabled, to answer 503 5.5.1).
    disabledCommands: disabled,
    hideSTARTTLS: !tls || spec.tls === 'implicit',
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    // MAIL before AUTH on submission is our mail policy's 530 5.7.0, so smtp-server's own
    // check (and its unauthenticated-command counter) stays off.
    authOptional: true,
    ...(tls ? { SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => tls.SNICallback(name, cb) } : {}),
    hideENHANCEDSTATUSCODES: false,
    // RFC 3461: RET/ENVID and NOTIFY/ORCPT are stored with the message and honoured.
    hideDSN: false,
    // RFC 8689: offered on TLS sessions only (smtp-server's own rule); the message keeps the
    // flag (messages.require_tls) and the relay honours it.
    hideREQUIRETLS: false,
    size: limits.maxMessageSize,
    rejectOversized: false, // the data policy answers 552 5.3.4 itself
    maxRecipients: limits.maxRecipients,
    maxClients: limits.maxConnections,
    socketTimeout: limits.idleTimeoutMs,
    closeTimeout: limits.closeTimeoutMs,
    maxCommandLength: LINE_BUFFER_CAP,
    lenientAddressParsing: false,
    disableReverseLookup: !limits.reverseLookup,
    resolver: {
      reverse: (ip: string, cb: (err: Error | null, hostnames?: string[]) => void) => {
        if (isLoopback(ip)) return cb(null, ['localhost']);
        if (!isIP(ip)) return cb(null, []);
        dns.reverse(ip, (err, names) => cb(err, names));
      },
    },
    onConnect(session, cb) {
      try {
        const facts = sessionFacts(session);
        const v = ingress.connect(facts, spec.name, spec.requireAuth);
        if (v.kind !== 'accept' || !ingress.limitsConnectionRate) return cb(toSmtpError(v));
        ingress.connectionRate(facts).then(
          (r) => cb(toSmtpError(r)),
          (err: unknown) => cb(internalError(logger, err)),
        );
      } catch (err) {
        cb(internalError(logger, err));
      }
    },
    onSecure(_socket, session, cb) {
      try {
        ingress.secure(sessionFacts(session));
        cb();
      } catch (err) {
        cb(internalError(logger, err));
      }
    },
    onAuth(auth, session, cb) {
      ingress.auth(sessionFacts(session), { method: auth.method, username: auth.username ?? '', password: auth.password ?? '', authzid: auth.authzid ?? '' }).then(
        (r) => (r.verdict.kind === 'accept' ? cb(null, { user: r.user }) : cb(toSmtpError(r.verdict))),
        (err: unknown) => cb(internalError(logger, err)),
      );
    },
    onMailFrom(address, session, cb) {
      ingress.mailFrom(sessionFacts(session), address.address).then(
        (v) => cb(toSmtpError(v)),
        (err: unknown) => cb(internalError(logger, err)),
      );
    },
    onRcptTo(address, session, cb) {
      // The ingress may rewrite address.address; smtp-server stores this object in the envelope.
      ingress.rcptTo(sessionFacts(session), address).then(
        (v) => cb(toSmtpError(v)),
        (err: unknown) => cb(internalError(logger, err)),
      );
    },
    onData(stream, session, cb) {
      const rcpts = session.envelope.rcptTo;
      ingress.data(sessionFacts(session), rcpts.map((r) => r.address), collectMessage(stream), rcpts.map(recipientDsn)).then(
        (o) => cb(toSmtpError(o.verdict), o.reply),
        (err: unknown) => cb(internalError(logger, err)),
      );
    },
    onClose(session) {
      ingress.close(session.id);
    },
  };
  const server = new SMTPServer(options);
  const detach = tls ? followDefaultContext(server, tls) : () => {};
  // smtp-server answers 421 to any command that arrives once closing, but sessions that
  // just sit there would hold the shutdown until the close timeout: tell the idle ones
  // now. A session receiving DATA or waiting for our reply finishes first.
  const idleSweep = createPeriodic(async () => tellIdleSessions(server, 421, `4.3.2 ${limits.hostname} Service shutting down, try again later`), { intervalMs: IDLE_SWEEP_MS });
  useHopmailConnections(server, {
    maxLineLength: limits.maxLineLength,
    maxBadCommands: limits.maxBadCommands,
    hostname: limits.hostname,
    authAfterTls: spec.auth && spec.tls === 'starttls',
    maxAuthFailures: limits.maxAuthFailures,
    greetingDelayMs: limits.greetingDelayMs,
    refuseEarlyPipelining: limits.refuseEarlyPipelining && spec.role === 'mx',
    sessionMaxMs: limits.sessionMaxMs,
    tlsHandshakeTimeoutMs: limits.tlsHandshakeTimeoutMs,
    onEvent(conn: HopmailConnection, event) {
      const log = ingress.sessions.get(conn.id)?.log ?? logger.child({ sessionId: conn.id, remoteIp: conn.remoteAddress });
      if (event === 'session-deadline') {
        log.info({ event: EVENTS.sessionDeadline, sessionMaxMs: limits.sessionMaxMs }, 'session time limit exceeded, closing');
        ingress.recordProtocolReject('protocol', event);
        return;
      }
      if (event === 'early-talker-pregreet' || event === 'early-talker-pipelining') {
        log.info({ event: EVENTS.earlyTalker, listener: spec.name, test: event === 'early-talker-pregreet' ? 'pregreet' : 'pipelining' }, 'early talker refused');
        ingress.recordProtocolReject('connect', event);
        return;
      }
      if (event === 'tls-handshake-timeout') {
        log.info({ event: EVENTS.tlsFailed, listener: spec.name, code: 'ERR_TLS_HANDSHAKE_TIMEOUT', reason: 'handshake timeout' }, 'TLS handshake failed');
        return;
      }
      if (event === 'auth-in-clear') {
        log.info({ event: EVENTS.authInClear }, 'AUTH before STARTTLS refused');
        ingress.recordProtocolReject('auth', event);
        return;
      }
      if (event === 'auth-too-many-failures') {
        log.warn({ event: EVENTS.authTooManyFailures, failures: conn.authFailures }, 'too many failed AUTH attempts, closing');
        ingress.recordProtocolReject('auth', event);
        return;
      }
      if (event === 'line-too-long') log.info({ event: EVENTS.lineTooLong }, 'command line too long');
      else if (event === 'too-many-connections') log.warn({ event: EVENTS.connectRefused, reason: event, listener: spec.name }, 'connection refused: SMTP_MAX_CONNECTIONS reached');
      else log.warn({ event: EVENTS.tooManyBadCommands }, 'too many bad commands, closing');
      ingress.recordProtocolReject(event === 'too-many-connections' ? 'connect' : 'protocol', event);
    },
  });
  fastSessionStart(server);
  if (spec.tls === 'implicit') {
    // A timeout reaches the 'error' listener below as ERR_TLS_HANDSHAKE_TIMEOUT (tls-failed).
    boundTlsHandshakes(server, limits.tlsHandshakeTimeoutMs);
  }
  // Socket errors of sessions (ECONNRESET in a transaction…) arrive here; an unhandled
  // 'error' event would end the process.
  server.on('error', (err: Error & { code?: string; reason?: string; meta?: { remoteAddress?: string; tlsProtocol?: string } }) => {
    // Handshakes that fail (old TLS versions, scanners, clients that distrust a self-signed
    // certificate) are routine on the Internet: info, without a stack.
    if (err.code?.startsWith('ERR_SSL') || err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' || /\bTLS\b/.test(err.message)) {
      logger.info({ event: EVENTS.tlsFailed, listener: spec.name, remoteIp: err.meta?.remoteAddress, code: err.code, reason: err.reason ?? err.message }, 'TLS handshake failed');
      return;
    }
    logger.warn({ event: EVENTS.sessionError, listener: spec.name, code: err.code, err }, 'session error');
  });

  return {
    server,
    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(spec.port, spec.host, () => {
          server.server.off('error', reject);
          const addr = server.server.address();
          const port = typeof addr === 'object' && addr ? addr.port : spec.port;
          logger.info({ event: EVENTS.listening, listener: spec.name, host: spec.host, port }, `${spec.name} listening`);
          resolve(port);
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        let done = false;
        idleSweep.start();
        detach();
        server.close(() => {
          if (done) return;
          done = true;
          void idleSweep.stop().then(resolve);
        });
      }),
  };
}
