// A small HTTP/1.1 client for one upstream (rspamd's normal worker, or a TLS proxy in front of
// it): a POST per scan, written as one writev of the request head and the message, the answer
// read by a parser that knows only what an upstream may send back (Content-Length, chunked, or
// up to the close). node:http did the same work at about twice the CPU per request (agent
// bookkeeping, header objects, its parser and stream layers: measured 195 against 90 µs per
// request on one connection each), and rspamd 3.4 closes every connection, so each scan pays
// for that setup again. Connections the server keeps open (a proxy, a later rspamd) are reused.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, getCACertificates } from 'node:tls';

export interface Http1Response {
  status: number;
  body: Buffer;
}

export class Http1Error extends Error {
  override name = 'Http1Error';
}

export interface Http1PostOptions {
  /** PEM CA certificates trusted besides the default ones (Node's, and the system's with --use-system-ca), for an https: URL. */
  ca?: string;
  /** Longest answer body accepted; a longer one is an error. */
  maxResponseBytes: number;
  /** Idle connections kept for reuse (the rest are closed). */
  maxIdle?: number;
  /** An idle kept connection is closed after this long. */
  idleTimeoutMs?: number;
}

const MAX_HEAD_BYTES = 64 * 1024;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const IDLE_EVENTS = ['close', 'error', 'end', 'timeout', 'data'] as const;

/** POSTs to `url`'s origin; headers are name/value pairs, repeated names sent as separate lines. */
export type Http1Post = (path: string, headers: readonly (readonly [string, string])[], body: Buffer, signal: AbortSignal) => Promise<Http1Response>;

/**
 * `url` is http:, https:, or unix:/path/to/socket: plain HTTP over a Unix-domain socket (an
 * upstream on the same host or in the same pod: no TCP handshake, teardown or loopback stack
 * per connection).
 */
export function createHttp1Post(url: URL, options: Http1PostOptions): Http1Post {
  const secure = url.protocol === 'https:';
  const unixPath = url.protocol === 'unix:' ? decodeURIComponent(url.pathname) : null;
  if (!secure && url.protocol !== 'http:' && !unixPath) throw new Http1Error(`unsupported URL scheme ${url.protocol}`);
  // URL keeps the brackets of an IPv6 literal; connect() wants the bare address.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port) || (secure ? 443 : 80);
  // `ca` given to tls.connect replaces the default trust store: the defaults go along.
  const ca = options.ca ? [...getCACertificates('default'), options.ca] : undefined;
  // RFC 9112 §3.2: a Host field is required; a socket has no authority, so localhost.
  const hostHeader = unixPath ? 'localhost' : url.host;
  const maxIdle = options.maxIdle ?? 256;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  /** Kept connections, each with the listener that drops it if anything happens while idle. */
  const idle = new Map<Socket, () => void>();

  const open = (): Socket => {
    if (unixPath) return quiet(netConnect({ path: unixPath }));
    const s = secure ? tlsConnect({ host, port, servername: isIP(host) ? undefined : host, ca }) : netConnect({ host, port });
    s.setNoDelay(true);
    return quiet(s);
  };
  const quiet = (s: Socket): Socket => {
    // Never an unhandled 'error' (a process crash) between an exchange and the idle pool: the
    // exchange's and the pool's own listeners are the ones that act on it.
    s.on('error', () => {});
    return s;
  };
  const keep = (s: Socket) => {
    if (idle.size >= maxIdle || s.destroyed) return void s.destroy();
    // Anything while idle (the server closing, an error, stray bytes, the idle timeout) ends it.
    const drop = () => {
      release(s);
      s.destroy();
    };
    for (const e of IDLE_EVENTS) s.on(e, drop);
    s.setTimeout(idleTimeoutMs);
    s.unref();
    idle.set(s, drop);
  };
  const release = (s: Socket) => {
    const drop = idle.get(s);
    if (!drop) return;
    idle.delete(s);
    for (const e of IDLE_EVENTS) s.off(e, drop);
    s.setTimeout(0);
    s.ref();
  };
  const take = (): Socket | undefined => {
    for (const s of idle.keys()) {
      release(s);
      return s;
    }
    return undefined;
  };

  const head = (path: string, headers: readonly (readonly [string, string])[], length: number): string => {
    let h = `POST ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nContent-Length: ${length}\r\n`;
    for (const [name, value] of headers) {
      // Header injection is the caller's bug, not something to send.
      if (!TOKEN.test(name) || /[\r\n\0]/.test(value)) throw new Http1Error(`invalid request header ${JSON.stringify(name)}`);
      h += `${name}: ${value}\r\n`;
    }
    return h + '\r\n';
  };

  const exchange = (socket: Socket, request: string, body: Buffer, signal: AbortSignal, reused: boolean) =>
    new Promise<{ response: Http1Response; reusable: boolean } | 'retry'>((resolve, reject) => {
      const parser = new ResponseParser(options.maxResponseBytes);
      let got = 0;
      const finish = (err: Error | null, result?: { response: Http1Response; reusable: boolean } | 'retry') => {
        socket.off('data', onData).off('end', onEnd).off('close', onEnd).off('error', onError);
        signal.removeEventListener('abort', onAbort);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve(result!);
      };
      const onData = (chunk: Buffer) => {
        got += chunk.length;
        let done;
        try {
          done = parser.push(chunk);
        } catch (e) {
          return finish(e as Error);
        }
        if (done) finish(null, { response: done, reusable: parser.reusable });
      };
      const onEnd = () => {
        // A kept connection the server closed just as we reused it: nothing was answered, so
        // the request was not handled (RFC 9112 §9.3.1 allows the retry for that case).
        if (reused && got === 0) return finish(null, 'retry');
        const done = parser.end();
        if (done) finish(null, { response: done, reusable: false });
        else finish(new Http1Error('connection closed before the answer was complete'));
      };
      const onError = (e: Error) => (reused && got === 0 ? finish(null, 'retry') : finish(e));
      const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new Http1Error('request aborted'));
      socket.on('data', onData).once('end', onEnd).once('close', onEnd).once('error', onError);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.cork();
      socket.write(request, 'latin1');
      socket.write(body);
      socket.uncork();
    });

  return async (path, headers, body, signal) => {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Http1Error('request aborted');
    const request = head(path, headers, body.length);
    const kept = take();
    let socket = kept ?? open();
    let outcome = await exchange(socket, request, body, signal, kept !== undefined);
    if (outcome === 'retry') {
      socket.destroy();
      socket = open();
      outcome = await exchange(socket, request, body, signal, false);
      if (outcome === 'retry') throw new Http1Error('connection closed before the answer was complete');
    }
    if (outcome.reusable) keep(socket);
    else socket.destroy();
    return outcome.response;
  };
}

/**
 * The answer to one request: status line and header fields (1xx interim answers skipped), then
 * the body by Content-Length, chunked coding, or up to the close. Bounded: MAX_HEAD_BYTES of
 * head, `maxBody` octets of body.
 */
class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  private status = 0;
  private bodyStart = -1;
  private mode: { kind: 'length'; n: number } | { kind: 'chunked' } | { kind: 'close' } = { kind: 'close' };
  reusable = false;
  private readonly maxBody: number;
  constructor(maxBody: number) {
    this.maxBody = maxBody;
  }

  /** The response once complete, else null. */
  push(chunk: Buffer): Http1Response | null {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.bodyStart < 0) {
      const end = this.buf.indexOf(HEAD_END);
      if (end < 0) {
        if (this.buf.length > MAX_HEAD_BYTES) throw new Http1Error('answer head too large');
        return null;
      }
      if (!this.head(this.buf.toString('latin1', 0, end))) this.buf = this.buf.subarray(end + 4); // 1xx: the real answer follows
      else this.bodyStart = end + 4;
    }
    const body = this.buf.subarray(this.bodyStart);
    if (this.mode.kind === 'length') {
      if (this.mode.n > this.maxBody) throw new Http1Error('answer too large');
      if (body.length < this.mode.n) return null;
      // More than the answer (a second one, or garbage): this connection is not used again.
      if (body.length > this.mode.n) this.reusable = false;
      return { status: this.status, body: body.subarray(0, this.mode.n) };
    }
    if (body.length > this.maxBody + MAX_HEAD_BYTES) throw new Http1Error('answer too large');
    if (this.mode.kind === 'chunked') {
      const decoded = dechunk(body);
      if (!decoded) return null;
      if (decoded.body.length > this.maxBody) throw new Http1Error('answer too large');
      if (decoded.end < body.length) this.reusable = false;
      return { status: this.status, body: decoded.body };
    }
    return null;
  }

  /** The connection ended: complete only for a body that runs to the close. */
  end(): Http1Response | null {
    if (this.bodyStart < 0 || this.mode.kind !== 'close') return null;
    const body = this.buf.subarray(this.bodyStart);
    if (body.length > this.maxBody) throw new Http1Error('answer too large');
    return { status: this.status, body };
  }

  /** Parses a head; false for an interim (1xx) one. */
  private head(text: string): boolean {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]!);
    if (!m) throw new Http1Error(`not an HTTP/1.x answer: ${JSON.stringify(lines[0]!.slice(0, 64))}`);
    const status = Number(m[2]);
    if (status >= 100 && status < 200) return false;
    let length: number | null = null;
    let chunked = false;
    let close = m[1] === '0';
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Http1Error('malformed answer header');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== null && length !== Number(value))) throw new Http1Error('malformed Content-Length');
        length = Number(value);
      } else if (name === 'transfer-encoding') chunked = /(^|,)\s*chunked\s*$/i.test(value);
      else if (name === 'connection') close = /(^|,)\s*close\s*(,|$)/i.test(value) || (m[1] === '0' && !/keep-alive/i.test(value));
    }
    this.status = status;
    // RFC 9112 §6.3: chunked wins over Content-Length; neither means up to the close.
    this.mode = chunked ? { kind: 'chunked' } : length !== null ? { kind: 'length', n: length } : { kind: 'close' };
    this.reusable = !close && this.mode.kind !== 'close';
    return true;
  }
}

/** The chunked body (RFC 9112 §7.1) decoded and where it ended, or null while incomplete. Extensions and trailers are ignored. */
function dechunk(data: Buffer): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf(CRLF, at);
    if (eol < 0) return null;
    const size = /^([0-9a-fA-F]{1,8})(?:[ \t]*;.*)?$/.exec(data.toString('latin1', at, eol));
    if (!size) throw new Http1Error('malformed chunk size');
    const n = parseInt(size[1]!, 16);
    at = eol + 2;
    if (n === 0) {
      // Trailer fields up to an empty line.
      for (;;) {
        const t = data.indexOf(CRLF, at);
        if (t < 0) return null;
        if (t === at) return { body: Buffer.concat(parts), end: t + 2 };
        at = t + 2;
      }
    }
    if (data.length < at + n + 2) return null;
    if (data[at + n] !== 0x0d || data[at + n + 1] !== 0x0a) throw new Http1Error('malformed chunk');
    parts.push(data.subarray(at, at + n));
    at += n + 2;
  }
}
