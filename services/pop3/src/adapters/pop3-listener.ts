// The thin socket layer: accepts connections, applies connection limits, feeds bytes to
// the engine and performs its actions in order (awaiting drain, so a slow reader slows
// the PostgreSQL reads instead of growing memory).
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { ChunkReader, type Logger } from '@hopmail/service-kit';
import type { CertificateStore } from '@hopmail/tls';
import type { Backend } from '../protocol/backend.ts';
import { Pop3Engine, type Action, type EngineOptions, type SessionEvent } from '../protocol/engine.ts';
import { admitConnection, type ConnectionLimits } from '../policy/limits.ts';
import { EVENTS } from '../events.ts';
import type { Pop3Metrics } from './metrics.ts';

export interface ListenerOptions {
  host: string;
  port: number;
  /**
   * `plain`: POP3 on 110, STLS offered when `certificates` is set (RFC 2595).
   * `implicit`: TLS from the first byte, POP3 inside (port 995, RFC 8314).
   */
  tls: 'plain' | 'implicit';
  /** Null: no TLS at all (development without a certificate). Required for `implicit`. */
  certificates: CertificateStore | null;
  /** A TLS handshake (995, or after STLS) must finish within this time. */
  handshakeTimeoutMs: number;
  /** For logs and metrics: `pop3` or `pop3s`. */
  name: string;
  idleTimeoutMs: number;
  /** Shared by the listeners of one process: MAX_CONNECTIONS counts both ports. */
  counters?: ConnectionCounters;
  limits: ConnectionLimits;
  engine: EngineOptions;
  backend: Backend;
  logger: Logger;
  metrics: Pop3Metrics;
}

interface Connection {
  socket: Socket;
  busy: boolean;
  /** A TLS handshake is running on the raw socket: nothing may be written to it. */
  handshaking: boolean;
  done: Promise<void>;
}

/** Connections per process and per client address, across the POP3 and POP3S listeners. */
export class ConnectionCounters {
  total = 0;
  readonly perIp = new Map<string, number>();
}

export function normalizeIp(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class Pop3Listener {
  private readonly options: ListenerOptions;
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly counters: ConnectionCounters;
  private stopping = false;

  constructor(options: ListenerOptions) {
    if (options.tls === 'implicit' && !options.certificates) throw new Error('an implicit-TLS listener needs certificates');
    this.options = options;
    this.counters = options.counters ?? new ConnectionCounters();
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stop accepting; close idle sessions now and busy ones after their current command. */
  async close(): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) {
      // A handshake in progress gets a moment to finish; the session then sees `stopping`
      // and says goodbye inside TLS. One that hangs is cut.
      if (c.handshaking) setTimeout(() => c.handshaking && c.socket.destroy(), 1_000).unref();
      else if (!c.busy) this.shutdownIdle(c.socket);
    }
    await Promise.all([...this.connections].map((c) => c.done));
    await closed;
  }

  private shutdownIdle(socket: Socket): void {
    socket.write('-ERR [SYS/TEMP] server shutting down\r\n', () => socket.destroy());
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  private accept(socket: Socket): void {
    const { logger, metrics, limits } = this.options;
    const { perIp } = this.counters;
    const ip = normalizeIp(socket.remoteAddress);
    socket.on('error', () => {}); // ECONNRESET and friends end the session below
    const admission = this.stopping
      ? ({ admit: false, reason: 'shutting-down' } as const)
      : admitConnection({ total: this.counters.total, fromIp: perIp.get(ip) ?? 0 }, limits);
    if (!admission.admit) {
      metrics.connections.inc({ result: admission.reason });
      logger.warn({ event: EVENTS.connRefused, remoteIp: ip, reason: admission.reason, listener: this.options.name }, 'connection refused');
      if (this.options.tls === 'implicit') {
        // No plaintext on a TLS port, and no handshake spent on a connection we refuse.
        socket.destroy();
        return;
      }
      const [line] = Pop3Engine.refuse(admission.reason === 'shutting-down' ? 'server shutting down' : 'too many connections');
      socket.end((line as { data: Buffer }).data);
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    metrics.connections.inc({ result: 'accepted' });
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    this.counters.total++;
    const conn: Connection = { socket, busy: false, handshaking: false, done: Promise.resolve() };
    this.connections.add(conn);
    metrics.sessions.inc();
    conn.done = this.session(conn, ip).finally(() => {
      this.connections.delete(conn);
      this.counters.total--;
      const n = (perIp.get(ip) ?? 1) - 1;
      if (n > 0) perIp.set(ip, n);
      else perIp.delete(ip);
      metrics.sessions.dec();
    });
  }

  private async session(conn: Conn, ip: string): Promise<void> {
    const raw = conn.socket;
    const { logger, metrics, certificates } = this.options;
    const sessionId = randomBytes(6).toString('hex');
    const log = logger.child({ sessionId, remoteIp: ip, listener: this.options.name });
    // `socket` is the raw TCP socket until TLS starts, then the TLSSocket over it.
    let socket: Socket = raw;
    let reader: ChunkReader | null = null;
    let closed = false;

    const onTimeout = () => {
      if (conn.busy) {
        // No byte moved either way for the whole idle period while a command ran: the
        // client stopped reading. Drop it; the lock goes with dispose().
        log.info({ event: EVENTS.sessionStalled }, 'no progress, closing');
        socket.destroy();
        return;
      }
      log.info({ event: EVENTS.sessionAutologout }, 'idle, autologout');
      const [line] = engine.autologout();
      closed = true;
      socket.end((line as { data: Buffer }).data);
      setTimeout(() => raw.destroy(), 1_000).unref();
    };
    const use = (s: Socket) => {
      if (s !== raw) {
        raw.setTimeout(0);
        raw.off('timeout', onTimeout);
        s.on('error', () => {});
      }
      socket = s;
      conn.socket = s;
      s.setTimeout(this.options.idleTimeoutMs);
      s.on('timeout', onTimeout);
      reader = new ChunkReader(s, answerNow);
    };
    // A RETR of a message read ahead is answered as its bytes arrive, while the session loop
    // waits for input (ChunkReader's `take`): no promise between the command and its reply.
    // A reply the socket cannot take at once pauses reading until it drains, as the loop would.
    const answerNow = (chunk: Buffer): boolean => {
      if (closed || this.stopping || engine.closed) return false;
      const reply = engine.answerNow(chunk);
      if (!reply) return false;
      metrics.bytesSent.inc(reply.length);
      if (!socket.write(reply)) {
        const s = socket;
        conn.busy = true;
        s.pause();
        void drained(s).then(() => {
          conn.busy = false;
          if (!s.destroyed) s.resume();
        });
      }
      prepareNext();
      return true;
    };
    // Once this turn's replies are written, the next message's reply is built (Pop3Engine.prepareNext).
    let preparing = false;
    const prepareNext = () => {
      if (preparing) return;
      preparing = true;
      setImmediate(() => {
        preparing = false;
        if (!closed) engine.prepareNext();
      });
    };

    /** Handshake on the raw socket; false (and logged) when it fails or times out. */
    const handshake = async (how: 'implicit' | 'stls'): Promise<boolean> => {
      reader?.detach();
      // RFC 2595 §4: bytes that reached us after STLS but before the handshake were sent
      // in clear; drop them rather than hand them to TLS or to the engine.
      let dropped = 0;
      for (let b: Buffer | null; (b = raw.read() as Buffer | null) !== null; ) dropped += b.length;
      if (dropped > 0) log.debug({ event: EVENTS.tlsDiscarded, octets: dropped }, 'dropped bytes sent in clear after STLS');
      raw.setTimeout(0);
      raw.off('timeout', onTimeout);
      const tls = new TLSSocket(raw, { isServer: true, ...certificates!.socketOptions() });
      conn.handshaking = true;
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => done(false, 'timeout'), this.options.handshakeTimeoutMs);
        const done = (result: boolean, reason?: string) => {
          clearTimeout(timer);
          tls.off('secure', onSecure);
          tls.off('error', onError);
          tls.off('close', onClose);
          if (!result) log.info({ event: EVENTS.tlsHandshakeFailed, how, reason }, 'TLS handshake failed');
          resolve(result);
        };
        const onSecure = () => done(true);
        const onError = (e: Error) => done(false, e.message);
        const onClose = () => done(false, 'closed');
        tls.on('secure', onSecure);
        tls.on('error', onError);
        tls.on('close', onClose);
      });
      conn.handshaking = false;
      if (!ok) {
        metrics.tlsHandshakes.inc({ how, result: 'failed' });
        tls.destroy();
        raw.destroy();
        return false;
      }
      metrics.tlsHandshakes.inc({ how, result: 'ok' });
      log.debug({ event: EVENTS.tlsEstablished, how, protocol: tls.getProtocol(), cipher: tls.getCipher()?.name, servername: tls.servername || undefined }, 'TLS established');
      use(tls);
      return true;
    };

    // Synchronous unless it has to wait (back-pressure, a delay, a handshake): a reply the
    // socket takes at once costs no promise.
    const perform = (a: Action): boolean | Promise<boolean> => {
      switch (a.type) {
        case 'write':
          if (socket.destroyed || !socket.writable) return false;
          metrics.bytesSent.inc(a.data.length);
          if (socket.write(a.data)) return !socket.destroyed;
          return drained(socket).then(() => !socket.destroyed);
        case 'delay':
          return new Promise((r) => setTimeout(r, a.ms)).then(() => !socket.destroyed);
        case 'event':
          logEvent(log, metrics, a.detail);
          return true;
        case 'starttls':
          return handshake('stls').then((ok) => {
            if (!ok) {
              closed = true;
              return false;
            }
            engine.tlsStarted();
            return true;
          });
        case 'close':
          closed = true;
          socket.end();
          return false;
      }
    };

    const implicit = this.options.tls === 'implicit';
    const engine = new Pop3Engine(
      this.options.backend,
      { ...this.options.engine, stls: !implicit && certificates !== null },
      ip,
      { secure: implicit },
    );
    use(raw);
    log.debug({ event: EVENTS.sessionStart }, 'connected');
    try {
      if (implicit && !(await handshake('implicit'))) return;
      if (this.stopping) return this.shutdownIdle(socket);
      for (const a of engine.greeting()) await perform(a);
      for (;;) {
        const chunk = await reader!.next();
        if (chunk === null || closed) break;
        conn.busy = true;
        for await (const a of engine.receive(chunk)) {
          const done = perform(a);
          if (!(done === true || (done !== false && (await done)))) break;
        }
        conn.busy = false;
        prepareNext();
        if (engine.closed) closed = true;
        if (closed) break;
        if (this.stopping) {
          this.shutdownIdle(socket);
          break;
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        log.warn({ event: EVENTS.sessionError, err }, 'session failed');
      }
    } finally {
      conn.busy = false;
      (reader as ChunkReader | null)?.detach();
      await engine.dispose().catch((err: unknown) => log.warn({ event: EVENTS.sessionReleaseFailed, err }, 'releasing the maildrop failed'));
      if (!socket.destroyed) socket.end();
      setTimeout(() => {
        socket.destroy();
        raw.destroy();
      }, 1_000).unref();
      log.debug({ event: EVENTS.sessionEnd }, 'disconnected');
    }
  }
}

type Conn = Connection;

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

function logEvent(log: Logger, metrics: Pop3Metrics, d: SessionEvent): void {
  switch (d.event) {
    case EVENTS.authSucceeded:
      metrics.logins.inc({ result: 'ok' });
      return log.info(d, 'logged in');
    case EVENTS.authFailed:
      metrics.logins.inc({ result: d.reason });
      return log.warn(d, 'login failed');
    case EVENTS.authUnavailable:
      metrics.logins.inc({ result: 'unavailable' });
      return log.error(d, 'authentication unavailable');
    case EVENTS.maildropInUse:
      metrics.logins.inc({ result: 'in-use' });
      return log.warn(d, 'maildrop already locked');
    case EVENTS.maildropUnavailable:
      metrics.logins.inc({ result: 'unavailable' });
      return log.error(d, 'maildrop could not be opened');
    case EVENTS.updateDone:
      metrics.updates.inc({ result: 'ok' });
      metrics.deleted.inc(d.deleted);
      return log.info(d, 'update done');
    case EVENTS.updateFailed:
      metrics.updates.inc({ result: 'failed' });
      return log.error(d, 'update failed, nothing deleted');
    case EVENTS.readFailed:
      return log.error(d, 'reading a message failed');
    case EVENTS.sessionTooManyFailures:
    case EVENTS.sessionTooManyBadCommands:
      return log.warn(d, 'closing connection');
    case EVENTS.tlsStls:
      return log.debug(d, 'STLS accepted');
  }
}
