// Asking the upstream resolvers. Each UDP exchange uses a fresh socket (random source port)
// and a random id, and only a reply from that upstream with that id and our question is
// taken (RFC 5452 spoofing resistance). TC=1 → the same upstream again over TCP.
// Failures (timeout, SERVFAIL, REFUSED, garbage) move on to the next upstream.
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { RCODE, TcpFrameReader, canonicalName, decodeMessage, encodeQuery, frameTcp, typeName, type DnsMessage, type DnsQuestion } from '@hopmail/dns-wire';
import type { Logger } from '@hopmail/service-kit';
import { UpstreamError } from '../errors.ts';
import { EVENTS } from '../events.ts';
import type { Metrics } from '../metrics.ts';
import { formatUpstream, type Upstream } from '../policy/upstreams.ts';

export interface UpstreamClient {
  /** An answer with rcode NOERROR or NXDOMAIN, or throws UpstreamError after every attempt failed. */
  resolve(q: DnsQuestion): Promise<DnsMessage>;
  close(): void;
}

export interface UpstreamOptions {
  upstreams: Upstream[];
  timeoutMs: number;
  attempts: number;
  udpPayload: number;
  /** formatUpstream() of the upstreams whose AD bit is trusted (DNS_VALIDATING_UPSTREAMS). */
  validating?: ReadonlySet<string>;
  logger: Logger;
  metrics: Metrics;
}

function matches(reply: DnsMessage, id: number, q: DnsQuestion): boolean {
  const rq = reply.questions[0];
  return reply.header.id === id && reply.header.qr && reply.questions.length === 1 && !!rq && rq.type === q.type && rq.class === q.class && canonicalName(rq.name) === canonicalName(q.name);
}

export function createUpstreamClient(options: UpstreamOptions): UpstreamClient {
  let rotate = 0;
  const open = new Set<{ abort(): void }>();

  const exchangeUdp = (u: Upstream, q: DnsQuestion, timeoutMs: number): Promise<DnsMessage> =>
    new Promise((resolve, reject) => {
      const id = randomInt(0, 0x10000);
      const query = encodeQuery({ id, name: q.name, type: q.type, class: q.class, rd: true, ad: true, udpSize: options.udpPayload }); // a throw here rejects
      const sock = createSocket(u.host.includes(':') ? 'udp6' : 'udp4');
      const handle = { abort: () => finish(new UpstreamError('network', formatUpstream(u), 'stopped')) };
      open.add(handle);
      let done = false;
      const finish = (err?: Error, reply?: DnsMessage) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        open.delete(handle);
        try {
          sock.close();
        } catch {
          /* already closed */
        }
        if (err) reject(err);
        else resolve(reply!);
      };
      const timer = setTimeout(() => finish(new UpstreamError('timeout', formatUpstream(u), `no UDP answer within ${timeoutMs} ms`)), timeoutMs);
      sock.on('error', (err) => finish(new UpstreamError('network', formatUpstream(u), err.message, err)));
      sock.on('message', (buf, rinfo) => {
        if (rinfo.port !== u.port) return;
        let reply: DnsMessage;
        try {
          reply = decodeMessage(buf);
        } catch {
          return; // not ours or broken: keep waiting for the real one until the timeout
        }
        if (matches(reply, id, q)) finish(undefined, reply);
      });
      sock.connect(u.port, u.host, (err?: Error) => {
        if (done) return; // timed out or stopped meanwhile: the socket is closed
        if (err) return finish(new UpstreamError('network', formatUpstream(u), err.message, err));
        try {
          sock.send(query, (e) => {
            if (e) finish(new UpstreamError('network', formatUpstream(u), e.message, e));
          });
        } catch (e) {
          finish(new UpstreamError('network', formatUpstream(u), (e as Error).message, e));
        }
      });
    });

  const exchangeTcp = (u: Upstream, q: DnsQuestion, timeoutMs: number): Promise<DnsMessage> =>
    new Promise((resolve, reject) => {
      const id = randomInt(0, 0x10000);
      const query = frameTcp(encodeQuery({ id, name: q.name, type: q.type, class: q.class, rd: true }));
      const sock = connect({ host: u.host, port: u.port });
      const handle = { abort: () => finish(new UpstreamError('network', formatUpstream(u), 'stopped')) };
      open.add(handle);
      const frames = new TcpFrameReader();
      let done = false;
      const finish = (err?: Error, reply?: DnsMessage) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        open.delete(handle);
        sock.destroy();
        if (err) reject(err);
        else resolve(reply!);
      };
      const timer = setTimeout(() => finish(new UpstreamError('timeout', formatUpstream(u), `no TCP answer within ${timeoutMs} ms`)), timeoutMs);
      sock.on('error', (err) => finish(new UpstreamError('network', formatUpstream(u), err.message, err)));
      sock.on('close', () => finish(new UpstreamError('network', formatUpstream(u), 'connection closed before the answer')));
      sock.on('connect', () => sock.write(query));
      sock.on('data', (chunk) => {
        for (const buf of frames.push(chunk)) {
          let reply: DnsMessage;
          try {
            reply = decodeMessage(buf);
          } catch (err) {
            return finish(new UpstreamError('bad-reply', formatUpstream(u), (err as Error).message, err));
          }
          if (matches(reply, id, q)) return finish(undefined, reply);
        }
      });
    });

  const timed = async (transport: 'udp' | 'tcp', fn: () => Promise<DnsMessage>): Promise<DnsMessage> => {
    const end = options.metrics.upstreamLatency.startTimer({ transport });
    try {
      const reply = await fn();
      end({ outcome: reply.header.tc ? 'truncated' : rcodeOutcome(reply.header.rcode) });
      return reply;
    } catch (err) {
      end({ outcome: err instanceof UpstreamError ? err.kind : 'network' });
      throw err;
    }
  };

  return {
    async resolve(q) {
      if (options.upstreams.length === 0) throw new UpstreamError('network', '-', 'no upstream resolvers configured');
      const start = rotate++ % options.upstreams.length;
      let last: UpstreamError | undefined;
      for (let attempt = 0; attempt < options.attempts; attempt++) {
        const u = options.upstreams[(start + attempt) % options.upstreams.length]!;
        try {
          let reply = await timed('udp', () => exchangeUdp(u, q, options.timeoutMs));
          if (reply.header.tc) reply = await timed('tcp', () => exchangeTcp(u, q, options.timeoutMs));
          const rcode = reply.header.rcode;
          // AD only from an upstream that validates; any other could say anything (RFC 6840 §5.8).
          if (!options.validating?.has(formatUpstream(u))) reply.header.ad = false;
          if (rcode === RCODE.NOERROR || rcode === RCODE.NXDOMAIN) return reply;
          throw new UpstreamError(rcode === RCODE.SERVFAIL ? 'servfail' : rcode === RCODE.REFUSED ? 'refused' : 'bad-reply', formatUpstream(u), `upstream answered rcode ${rcode}`);
        } catch (err) {
          last = err instanceof UpstreamError ? err : new UpstreamError('network', formatUpstream(u), String(err), err);
          options.logger.warn({ event: EVENTS.upstreamFailed, upstream: last.upstream, reason: last.kind, qname: q.name, qtype: typeName(q.type), attempt: attempt + 1 }, last.message);
        }
      }
      throw last!;
    },
    close() {
      for (const h of [...open]) h.abort();
    },
  };
}

function rcodeOutcome(rcode: number): string {
  return rcode === RCODE.NOERROR ? 'noerror' : rcode === RCODE.NXDOMAIN ? 'nxdomain' : rcode === RCODE.SERVFAIL ? 'servfail' : rcode === RCODE.REFUSED ? 'refused' : `rcode-${rcode}`;
}
