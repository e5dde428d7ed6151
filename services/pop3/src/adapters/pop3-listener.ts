// The thin socket layer: accepts connections, applies connection limits, feeds bytes to
// the engine and performs its actions in order (awaiting drain, so a slow reader slows
// the PostgreSQL reads instead of growing memory).
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Logger } from '@hopmail/service-kit';
import type { Backend } from '../protocol/backend.ts';
import { Pop3Engine, type Action, type EngineOptions, type SessionEvent } from '../protocol/engine.ts';
import { admitConnection, type ConnectionLimits } from '../policy/limits.ts';
import type { Pop3Metrics } from './metrics.ts';

export interface ListenerOptions {
  host: string;
  port: number;
  idleTimeoutMs: number;
  limits: ConnectionLimits;
  engine: EngineOptions;
  backend: Backend;
  logger: Logger;
  metrics: Pop3Metrics;
}

interface Connection {
  socket: Socket;
  busy: boolean;
  done: Promise<void>;
}

export function normalizeIp(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export class Pop3Listener {
  private readonly options: ListenerOptions;
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly perIp = new Map<string, number>();
  private stopping = false;

  constructor(options: ListenerOptions) {
    this.options = options;
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
    for (const c of this.connections) if (!c.busy) this.shutdownIdle(c.socket);
    await Promise.all([...this.connections].map((c) => c.done));
    await closed;
  }

  private shutdownIdle(socket: Socket): void {
    socket.write('-ERR [SYS/TEMP] server shutting down\r\n', () => socket.destroy());
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  private accept(socket: Socket): void {
    const { logger, metrics, limits } = this.options;
    const ip = normalizeIp(socket.remoteAddress);
    socket.on('error', () => {}); // ECONNRESET and friends end the session below
    const admission = this.stopping
      ? ({ admit: false, reason: 'shutting-down' } as const)
      : admitConnection({ total: this.connections.size, fromIp: this.perIp.get(ip) ?? 0 }, limits);
    if (!admission.admit) {
      metrics.connections.inc({ result: admission.reason });
      logger.warn({ event: 'conn.refused', remoteIp: ip, reason: admission.reason }, 'connection refused');
      const [line] = Pop3Engine.refuse(admission.reason === 'shutting-down' ? 'server shutting down' : 'too many connections');
      socket.end((line as { data: Buffer }).data);
      setTimeout(() => socket.destroy(), 1_000).unref();
      return;
    }
    metrics.connections.inc({ result: 'accepted' });
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    const conn: Connection = { socket, busy: false, done: Promise.resolve() };
    this.connections.add(conn);
    metrics.sessions.inc();
    conn.done = this.session(conn, ip).finally(() => {
      this.connections.delete(conn);
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n > 0) this.perIp.set(ip, n);
      else this.perIp.delete(ip);
      metrics.sessions.dec();
    });
  }

  private async session(conn: Conn, ip: string): Promise<void> {
    const { socket } = conn;
    const { logger, metrics } = this.options;
    const sessionId = randomBytes(6).toString('hex');
    const log = logger.child({ sessionId, remoteIp: ip });
    const engine = new Pop3Engine(this.options.backend, this.options.engine, ip);
    let closed = false;

    const perform = async (a: Action): Promise<boolean> => {
      switch (a.type) {
        case 'write':
          if (socket.destroyed || !socket.writable) return false;
          metrics.bytesSent.inc(a.data.length);
          if (!socket.write(a.data)) await drained(socket);
          return !socket.destroyed;
        case 'delay':
          await new Promise((r) => setTimeout(r, a.ms));
          return !socket.destroyed;
        case 'event':
          logEvent(log, metrics, a.detail);
          return true;
        case 'close':
          closed = true;
          socket.end();
          return false;
      }
    };

    socket.setTimeout(this.options.idleTimeoutMs);
    socket.on('timeout', () => {
      if (conn.busy) {
        // No byte moved either way for the whole idle period while a command ran: the
        // client stopped reading. Drop it; the lock goes with dispose().
        log.info({ event: 'session.stalled' }, 'no progress, closing');
        socket.destroy();
        return;
      }
      log.info({ event: 'session.autologout' }, 'idle, autologout');
      const [line] = engine.autologout();
      closed = true;
      socket.end((line as { data: Buffer }).data);
      setTimeout(() => socket.destroy(), 1_000).unref();
    });

    log.debug({ event: 'session.start' }, 'connected');
    try {
      for (const a of engine.greeting()) await perform(a);
      for await (const chunk of socket as AsyncIterable<Buffer>) {
        if (closed) break;
        conn.busy = true;
        for await (const a of engine.receive(chunk)) {
          if (!(await perform(a))) break;
        }
        conn.busy = false;
        if (engine.closed) closed = true;
        if (closed) break;
        if (this.stopping) {
          this.shutdownIdle(socket);
          break;
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        log.warn({ event: 'session.error', err }, 'session failed');
      }
    } finally {
      conn.busy = false;
      await engine.dispose().catch((err: unknown) => log.warn({ event: 'session.release-failed', err }, 'releasing the maildrop failed'));
      if (!socket.destroyed) socket.end();
      setTimeout(() => socket.destroy(), 1_000).unref();
      log.debug({ event: 'session.end' }, 'disconnected');
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
    case 'auth.succeeded':
      metrics.logins.inc({ result: 'ok' });
      return log.info(d, 'logged in');
    case 'auth.failed':
      metrics.logins.inc({ result: d.reason });
      return log.warn(d, 'login failed');
    case 'auth.unavailable':
      metrics.logins.inc({ result: 'unavailable' });
      return log.error(d, 'authentication unavailable');
    case 'maildrop.in-use':
      metrics.logins.inc({ result: 'in-use' });
      return log.warn(d, 'maildrop already locked');
    case 'maildrop.unavailable':
      metrics.logins.inc({ result: 'unavailable' });
      return log.error(d, 'maildrop could not be opened');
    case 'update.done':
      metrics.updates.inc({ result: 'ok' });
      metrics.deleted.inc(d.deleted);
      return log.info(d, 'update done');
    case 'update.failed':
      metrics.updates.inc({ result: 'failed' });
      return log.error(d, 'update failed, nothing deleted');
    case 'read.failed':
      return log.error(d, 'reading a message failed');
    case 'session.too-many-failures':
    case 'session.too-many-bad-commands':
      return log.warn(d, 'closing connection');
  }
}
