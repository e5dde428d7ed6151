// One smtp-server instance per listening port. Each hook is a few lines: ask the ingress
// (which asks a pure policy), turn the verdict into smtp-server's callback.
//
// Listener roles: `mx` (port 25 / 2525 locally: no AUTH, no relaying) is the only one
// today. Submission (587 with STARTTLS + AUTH) and submissions (465, implicit TLS) are
// further ListenerSpecs with their own options (secure, key/cert, authMethods, onAuth
// setting ConnectionState.user) on the same hooks: the relay decision already reads
// `authenticated` from the connection state.

import dns from 'node:dns';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { EVENTS, IngressError } from '../errors.ts';
import type { Ingress } from '../ingress.ts';
import { replyText, type Verdict } from '../policy/verdict.ts';
import { useHopmailConnections, type HopmailConnection } from './smtp-connection.ts';

export type ListenerRole = 'mx';

export interface ListenerSpec {
  /** Metric label and log field: `mx`, later `submission`, `submissions`. */
  name: string;
  role: ListenerRole;
  host: string;
  port: number;
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
  const r = new IngressError('internal', 'hook failed', err).smtp!;
  return Object.assign(new Error(`${r.enhanced} ${r.text}`), { responseCode: r.code });
}

const isLoopback = (ip: string) => ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');

export interface SmtpListener {
  server: SMTPServer;
  listen(): Promise<number>;
  /** Stops accepting, lets in-flight commands finish, then 421s whatever remains at the deadline. */
  close(): Promise<void>;
}

export function createSmtpListener(spec: ListenerSpec, limits: ListenerLimits, ingress: Ingress, logger: Logger): SmtpListener {
  const options: SMTPServerOptions = {
    name: limits.hostname,
    banner: 'Hopmail',
    heloResponse: '%s Hello %s',
    logger: false,
    secure: false,
    // AUTH and STARTTLS come with the submission listeners; XCLIENT/XFORWARD would let a
    // client choose the address we log; the sendmail jokes (WIZ, SHELL, KILL) stay out.
    disabledCommands: ['AUTH', 'STARTTLS', 'XCLIENT', 'XFORWARD', 'WIZ', 'SHELL', 'KILL'],
    hideSTARTTLS: true,
    authOptional: true,
    hideENHANCEDSTATUSCODES: false,
    // We do not keep NOTIFY/ORCPT/RET/ENVID, so we must not advertise DSN (RFC 3461).
    hideDSN: true,
    hideREQUIRETLS: true,
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
        cb(toSmtpError(ingress.connect(session, spec.name)));
      } catch (err) {
        cb(internalError(logger, err));
      }
    },
    onMailFrom(address, session, cb) {
      try {
        cb(toSmtpError(ingress.mailFrom(address, session)));
      } catch (err) {
        cb(internalError(logger, err));
      }
    },
    onRcptTo(address, session, cb) {
      ingress.rcptTo(address, session).then(
        (v) => cb(toSmtpError(v)),
        (err: unknown) => cb(internalError(logger, err)),
      );
    },
    onData(stream, session, cb) {
      ingress.data(stream, session).then(
        (o) => cb(toSmtpError(o.verdict), o.reply),
        (err: unknown) => cb(internalError(logger, err)),
      );
    },
    onClose(session) {
      ingress.close(session);
    },
  };
  const server = new SMTPServer(options);
  useHopmailConnections(server, {
    maxLineLength: limits.maxLineLength,
    maxBadCommands: limits.maxBadCommands,
    hostname: limits.hostname,
    onEvent(conn: HopmailConnection, event) {
      const log = ingress.sessions.get(conn.id)?.log ?? logger.child({ sessionId: conn.id, remoteIp: conn.remoteAddress });
      if (event === 'line-too-long') log.info({ event: EVENTS.lineTooLong }, 'command line too long');
      else if (event === 'too-many-connections') log.warn({ event: EVENTS.connectRefused, reason: event, listener: spec.name }, 'connection refused: SMTP_MAX_CONNECTIONS reached');
      else log.warn({ event: EVENTS.tooManyBadCommands }, 'too many bad commands, closing');
      ingress.recordProtocolReject(event === 'too-many-connections' ? 'connect' : 'protocol', event);
    },
  });
  // Socket errors of sessions (ECONNRESET in a transaction…) arrive here; an unhandled
  // 'error' event would end the process.
  server.on('error', (err: Error & { code?: string }) => {
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
        // smtp-server answers 421 to any command that arrives from now on, but sessions
        // that just sit there would hold the shutdown until the close timeout: tell the
        // idle ones now. A session receiving DATA or waiting for our reply finishes first.
        const sweep = setInterval(() => {
          for (const c of server.connections) {
            if (!c._handlerPending && !c._dataStream && !c._closing) c.send(421, `4.3.2 ${limits.hostname} Service shutting down, try again later`);
          }
        }, 50);
        server.close(() => {
          if (done) return;
          done = true;
          clearInterval(sweep);
          resolve();
        });
      }),
  };
}
