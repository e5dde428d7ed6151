// One DNS question on the wire, for what node:dns does not show (the AD bit, TTLs): the
// server address parsed as DNS_SERVERS gives it, a UDP exchange that takes only the reply to
// this query, and a TCP exchange for answers that came back truncated.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { TcpFrameReader, frameTcp } from '@hopmail/dns-wire';

/** EDNS payload size asked for (RFC 9715, DNS flag day 2020): no IP fragmentation. */
export const EDNS_UDP_SIZE = 1232;

/** `ip`, `ip:port`, `[v6]` or `[v6]:port` (a bare IPv6 address has no port); port 53 by default. */
export function parseServer(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? (s.split(':').length === 2 ? /^([^:]+):(\d+)$/.exec(s) : null);
  return m ? { host: m[1]!, port: Number(m[2] ?? 53) } : { host: s, port: 53 };
}

/** The reply to `query` (id `id`) from host:port, or undefined after `timeoutMs`. */
export function udpAsk(host: string, port: number, query: Buffer, id: number, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const done = (b?: Buffer) => {
      clearTimeout(t);
      sock.close();
      resolve(b);
    };
    const t = setTimeout(() => done(), timeoutMs);
    sock.on('error', () => done());
    sock.on('message', (b, rinfo) => {
      // Anything but the reply to this query (another source, another id) is ignored.
      if ((rinfo.address === host || host === 'localhost') && rinfo.port === port && b.length >= 2 && b.readUInt16BE(0) === id) done(b);
    });
    sock.send(query, port, host);
  });
}

/** The first framed reply over TCP (RFC 7766), or undefined after `timeoutMs`. */
export function tcpAsk(host: string, port: number, query: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const reader = new TcpFrameReader();
    const sock = connect({ host, port });
    const done = (b?: Buffer) => {
      clearTimeout(t);
      sock.destroy();
      resolve(b);
    };
    const t = setTimeout(() => done(), timeoutMs);
    sock.on('error', () => done());
    sock.on('connect', () => sock.write(frameTcp(query)));
    sock.on('data', (chunk: Buffer) => {
      const [first] = reader.push(chunk);
      if (first) done(Buffer.from(first));
    });
    sock.on('end', () => done());
  });
}
