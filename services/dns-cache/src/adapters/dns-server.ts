// UDP and TCP listeners on one port: bytes in, `handle`, bytes out. TCP follows RFC 7766:
// several queries per connection, answered as they complete, idle connections closed.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { TcpFrameReader, frameTcp } from '@hopmail/dns-wire';
import { listenUdpAndTcp, type Logger } from '@hopmail/service-kit';
import { EVENTS } from '../events.ts';

export type Transport = 'udp' | 'tcp';
export type QueryHandler = (query: Buffer, transport: Transport, remote: string) => Promise<Buffer | undefined>;

export interface DnsListeners {
  port: number;
  /** Stop taking queries, finish those in flight, close everything. */
  close(): Promise<void>;
}

export async function startDnsListeners(options: { host: string; port: number; handle: QueryHandler; tcpIdleMs: number; tcpMaxConnections: number; logger: Logger }): Promise<DnsListeners> {
  const { logger } = options;
  let closing = false;
  const pending = new Set<Promise<unknown>>();
  /** open TCP connections and the queries each has in flight */
  const connections = new Map<Socket, { inflight: number }>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    pending.add(p);
    void p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };

  const family = options.host.includes(':') ? 'udp6' : 'udp4';
  const make = (): { udp: UdpSocket; tcp: Server } => {
    const udp = createSocket({ type: family });
    udp.on('message', (msg, rinfo) => {
      if (closing) return;
      void track(
        options.handle(msg, 'udp', rinfo.address).then(
          (reply) =>
            // resolved once the datagram left, so close() never drops an answer
            reply && new Promise<void>((r) => udp.send(reply, rinfo.port, rinfo.address, () => r())),
          (err: Error) => logger.error({ event: EVENTS.handlerFailed, err: err.message, remoteIp: rinfo.address }, 'query handler failed'),
        ),
      );
    });
    const tcp = createServer((sock) => {
      if (closing || connections.size >= options.tcpMaxConnections) {
        if (!closing) logger.warn({ event: EVENTS.tcpLimit, remoteIp: sock.remoteAddress, max: options.tcpMaxConnections }, 'too many TCP connections, refusing');
        sock.destroy();
        return;
      }
      const state = { inflight: 0 };
      connections.set(sock, state);
      const frames = new TcpFrameReader();
      sock.setTimeout(options.tcpIdleMs, () => sock.destroy());
      sock.on('data', (chunk) => {
        if (closing) return;
        for (const msg of frames.push(chunk)) {
          state.inflight++;
          void track(
            options.handle(msg, 'tcp', sock.remoteAddress ?? '').then(
              (reply) => {
                state.inflight--;
                if (reply && !sock.destroyed) sock.write(frameTcp(reply));
                else if (!reply) sock.destroy(); // unanswerable on a stream: close rather than leave the client waiting
                if (closing && state.inflight === 0) sock.end();
              },
              (err: Error) => {
                state.inflight--;
                logger.error({ event: EVENTS.handlerFailed, err: err.message, remoteIp: sock.remoteAddress }, 'query handler failed');
                sock.destroy();
              },
            ),
          );
        }
      });
      sock.on('error', () => {});
      sock.on('close', () => connections.delete(sock));
    });
    tcp.on('error', (err) => logger.error({ event: EVENTS.socketError, err: err.message }, 'TCP listener error'));
    return { udp, tcp };
  };
  const { udp, tcp, port } = await listenUdpAndTcp(make, options.host, options.port);
  udp.on('error', (err) => logger.error({ event: EVENTS.socketError, err: err.message }, 'UDP socket error'));

  return {
    port,
    async close() {
      if (closing) return;
      closing = true;
      const tcpClosed = new Promise<void>((r) => tcp.close(() => r()));
      for (const [s, st] of connections) if (st.inflight === 0) s.end();
      await Promise.allSettled([...pending]);
      await new Promise<void>((r) => udp.close(() => r()));
      for (const s of connections.keys()) s.destroy();
      await tcpClosed;
    },
  };
}
