// The thin socket layer: accepts connections, applies connection limits, feeds bytes to the
// command reader and the session, awaits every write (a client that stops reading stops its
// session), performs STARTTLS and delivers change notifications one at a time with commands.
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { TLSSocket } from 'node:tls';
import { ChunkReader, type Logger } from '@hopmail/service-kit';
import type { CertificateStore } from '@hopmail/tls';
import { CommandReader, type ReaderLimits } from '../protocol/parser.ts';
import { ImapSession, type EngineOptions, type SessionIO } from '../protocol/engine.ts';
import type { Store } from '../protocol/store.ts';
import { EVENTS } from '../events.ts';
import type { ImapMetrics } from './metrics.ts';
import type { Notifier } from './notifier.ts';

export interface ListenerOptions {
  host: string;
  port: number;
  tls: 'plain' | 'implicit';
  certificates: CertificateStore | null;
  handshakeTimeoutMs: number;
  name: string;
  idleTimeoutMs: number;
  counters: ConnectionCounters;
  limits: { maxTotal: number; maxPerIp: number };
  reader: ReaderLimits;
  engine: EngineOptions;
  store: Store;
  notifier: Notifier;
  logger: Logger;
  metrics: ImapMetrics;
}

export class ConnectionCounters {
  total = 0;
  readonly perIp = new Map<string, number>();
}

interface Connection {
  socket: Socket;
  busy: boolean;
  session: ImapSession | null;
  done: Promise<void>;
}

function normalizeIp(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class ImapListener {
  private readonly o: ListenerOptions;
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private stopping = false;

  constructor(options: ListenerOptions) {
    if (options.tls === 'implicit' && !options.certificates) throw new Error('an implicit-TLS listener needs certificates');
    this.o = options;
    this.server = createServer({ noDelay: true }, (s) => this.accept(s));
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stop accepting; idle sessions get BYE now, busy ones after their current command. */
  async close(): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) if (!c.busy) this.bye(c);
    await Promise.all([...this.connections].map((c) => c.done));
    await closed;
  }

  private bye(c: Connection): void {
    const text = c.session ? c.session.shuttingDown() : ImapSession.refuse('[UNAVAILABLE] server shutting down');
    c.socket.write(text, () => c.socket.destroy());
    setTimeout(() => c.socket.destroy(), 1_000).unref();
  }

  private accept(socket: Socket): void {
    const { logger, metrics, limits, counters } = this.o;
    const ip = normalizeIp(socket.remoteAddress);
    socket.on('error', () => {});
    const reason = this.stopping ? 'shutting-down' : counters.total >= limits.maxTotal ? 'server-full' : (counters.perIp.get(ip) ?? 0) >= limits.maxPerIp ? 'ip-full' : null;
    if (reason) {
      metrics.connections.inc({ result: reason });
      logger.warn({ event: EVENTS.connRefused, remoteIp: ip, reason, listener: this.o.name }, 'connection refused');
      if (this.o.tls === 'implicit') return void socket.destroy();
      socket.end(ImapSession.refuse(reason === 'shutting-down' ? '[UNAVAILABLE] server shutting down' : '[UNAVAILABLE] too many connections'));
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    metrics.connections.inc({ result: 'accepted' });
    counters.perIp.set(ip, (counters.perIp.get(ip) ?? 0) + 1);
    counters.total++;
    metrics.sessions.inc();
    const conn: Connection = { socket, busy: false, session: null, done: Promise.resolve() };
    this.connections.add(conn);
    conn.done = this.session(conn, ip).finally(() => {
      this.connections.delete(conn);
      counters.total--;
      const n = (counters.perIp.get(ip) ?? 1) - 1;
      if (n > 0) counters.perIp.set(ip, n);
      else counters.perIp.delete(ip);
      metrics.sessions.dec();
    });
  }

  private async session(conn: Connection, ip: string): Promise<void> {
    const raw = conn.socket;
    const { logger, metrics, certificates } = this.o;
    const log = logger.child({ sessionId: randomBytes(6).toString('hex'), remoteIp: ip, listener: this.o.name });
    let socket: Socket = raw;
    let chunks: ChunkReader = new ChunkReader(raw);
    const reader = new CommandReader(this.o.reader);
    let unwatch: (() => void) | null = null;
    // Commands and notifications run one at a time, in arrival order.
    let serial: Promise<void> = Promise.resolve();
    const run = (f: () => Promise<void>) => (serial = serial.then(f, f));

    const onTimeout = () => {
      log.info({ event: EVENTS.sessionAutologout }, 'idle, autologout');
      if (!socket.destroyed) socket.end(session.autologout());
      setTimeout(() => raw.destroy(), 1_000).unref();
    };
    const use = (s: Socket) => {
      socket.setTimeout(0);
      socket.off('timeout', onTimeout);
      socket = s;
      conn.socket = s;
      s.on('error', () => {});
      s.setTimeout(this.o.idleTimeoutMs);
      s.on('timeout', onTimeout);
    };

    const handshake = async (how: 'implicit' | 'starttls'): Promise<boolean> => {
      // RFC 9051 §6.2.1: nothing sent in clear after STARTTLS may be acted on.
      chunks.detach();
      while (raw.read() !== null);
      raw.setTimeout(0);
      const tls = new TLSSocket(raw, { isServer: true, ...certificates!.socketOptions() });
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => done(false, 'timeout'), this.o.handshakeTimeoutMs);
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
      metrics.tlsHandshakes.inc({ how, result: ok ? 'ok' : 'failed' });
      if (!ok) {
        tls.destroy();
        raw.destroy();
        return false;
      }
      log.debug({ event: EVENTS.tlsEstablished, how, protocol: tls.getProtocol() }, 'TLS established');
      use(tls);
      chunks = new ChunkReader(tls);
      return true;
    };

    const implicit = this.o.tls === 'implicit';
    const io: SessionIO = {
        write: async (data) => {
          if (socket.destroyed || !socket.writable) throw Object.assign(new Error('connection closed'), { code: 'ECONNRESET' });
          if (Buffer.isBuffer(data)) {
            metrics.bytesSent.inc(data.length);
            if (!socket.write(data)) await drained(socket);
            return;
          }
          let bytes = 0;
          let more = true;
          socket.cork();
          for (const b of data) {
            bytes += b.length;
            more = socket.write(b);
          }
          socket.uncork();
          metrics.bytesSent.inc(bytes);
          if (!more) await drained(socket);
        },
        startTls: async () => {
          // RFC 9051 §6.2.1: bytes pipelined behind STARTTLS came in clear; drop them.
          reader.clear();
          return handshake('starttls');
        },
        delay: (ms) => new Promise((r) => setTimeout(r, ms)),
        event: (name, detail) => logEvent(log, metrics, name, detail ?? {}),
        watch: (mailboxId) => {
          unwatch?.();
          // Notifications that arrive while a wake-up waits its turn fold into it (with the
          // latest key): a burst of deliveries costs a busy session one re-read, not one each.
          let waiting: string | null = null;
          const changed = (wake: string) => {
            const queued = waiting !== null;
            waiting = wake;
            if (queued) return;
            void run(() => {
              const w = waiting!;
              waiting = null;
              return session.changed(w).catch(() => {});
            });
          };
          unwatch = mailboxId ? this.o.notifier.watch(mailboxId, { changed }) : null;
        },
    };
    const session: ImapSession = new ImapSession(
      this.o.store,
      io,
      { ...this.o.engine, starttls: !implicit && certificates !== null && this.o.engine.starttls },
      ip,
      implicit,
    );
    conn.session = session;
    use(raw);
    log.debug({ event: EVENTS.sessionStart }, 'connected');
    try {
      if (implicit && !(await handshake('implicit'))) return;
      if (this.stopping) return this.bye(conn);
      await io.write(session.greeting());
      for (;;) {
        if (session.closed || socket.destroyed) break;
        let worked = false;
        await run(async () => {
          if (session.mode === 'command') {
            const item = reader.next();
            if (item) {
              worked = true;
              conn.busy = true;
              await session.receive(item);
            }
          } else {
            const line = reader.takeLine();
            if (line !== null) {
              worked = true;
              conn.busy = true;
              await session.line(line);
            }
          }
          conn.busy = false;
        });
        if (worked) {
          if (this.stopping && session.mode === 'command' && !session.closed) {
            this.bye(conn);
            break;
          }
          continue;
        }
        const chunk = await chunks.next();
        if (chunk === null) break;
        reader.push(chunk);
        // Raw-line modes (IDLE's DONE, a SASL response) have no reader-side cap: apply it here.
        if (session.mode !== 'command' && reader.pending > this.o.reader.maxLineOctets) {
          await io.write(Buffer.from('* BYE [TOOBIG] line too long\r\n'));
          break;
        }
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ECONNRESET' && code !== 'ERR_STREAM_PREMATURE_CLOSE' && code !== 'EPIPE') log.warn({ event: EVENTS.sessionError, err }, 'session failed');
    } finally {
      conn.busy = false;
      (unwatch as (() => void) | null)?.();
      chunks.detach();
      if (!socket.destroyed) socket.end();
      setTimeout(() => {
        socket.destroy();
        raw.destroy();
      }, 1_000).unref();
      log.debug({ event: EVENTS.sessionEnd }, 'disconnected');
    }
  }
}

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

function logEvent(log: Logger, metrics: ImapMetrics, event: string, d: Record<string, unknown>): void {
  switch (event) {
    case EVENTS.authSucceeded:
      metrics.logins.inc({ result: 'ok' });
      return log.info({ event, ...d }, 'logged in');
    case EVENTS.authFailed:
      metrics.logins.inc({ result: String(d.reason) });
      return log.warn({ event, ...d }, 'login failed');
    case EVENTS.authUnavailable:
      metrics.logins.inc({ result: 'unavailable' });
      return log.error({ event, ...d }, 'authentication unavailable');
    case EVENTS.sessionError:
      return log.error({ event, ...d }, 'command failed');
    default:
      return log.warn({ event, ...d }, 'session event');
  }
}
