// The HTTP/1.1 client against raw sockets that answer the way upstreams and proxies do: by
// length, chunked, up to the close, split anywhere, after an interim 100, or wrongly.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttp1Post, Http1Error } from './http1-post.ts';

/** How the server answers the next request: the octets to send, in pieces, and whether to close. */
type Script = (socket: Socket, request: string) => void;
let script: Script;
let server: Server;
let port = 0;
const requests: { request: string; port: number }[] = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {}); // the client hangs up on the bad answers
    socket.on('close', () => sockets.delete(socket));
    let buf = '';
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      const request = buf.slice(0, end + 4 + length);
      buf = buf.slice(end + 4 + length);
      requests.push({ request, port: socket.remotePort! });
      script(socket, request);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterEach(() => {
  requests.length = 0;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

const url = () => new URL(`http://127.0.0.1:${port}`);
const signal = () => AbortSignal.timeout(5000);
/** Writes the pieces one after another, each in its own turn, then maybe closes. */
function send(socket: Socket, pieces: (string | Buffer)[], close = false): void {
  let i = 0;
  const next = () => {
    if (i < pieces.length) {
      socket.write(pieces[i++]!);
      setTimeout(next, 2);
    } else if (close) socket.end();
  };
  next();
}

describe('HTTP/1.1 POST', () => {
  it('sends one line per header (repeated names kept), Host and Content-Length, then the body', async () => {
    script = (s) => send(s, ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok']);
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    const r = await post('/checkv2', [['Rcpt', 'a@x.test'], ['Rcpt', 'b@x.test']], Buffer.from('hello'), signal());
    expect(r).toEqual({ status: 200, body: Buffer.from('ok') });
    expect(requests[0]!.request).toBe(`POST /checkv2 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 5\r\nRcpt: a@x.test\r\nRcpt: b@x.test\r\n\r\nhello`);
  });

  it('reads a chunked answer split anywhere (inside the head, the sizes and the trailer), and keeps the connection', async () => {
    const answer = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n';
    script = (s) => send(s, answer.match(/[\s\S]{1,3}/g)!);
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    expect((await post('/', [], Buffer.alloc(0), signal())).body.toString()).toBe('hello, world');
    expect((await post('/', [], Buffer.alloc(0), signal())).body.toString()).toBe('hello, world');
    expect(new Set(requests.map((r) => r.port)).size).toBe(1);
  });

  it('reads an answer without a length up to the close, and does not reuse that connection', async () => {
    script = (s) => send(s, ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n', '{"a":', '1}'], true);
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    expect((await post('/', [], Buffer.alloc(0), signal())).body.toString()).toBe('{"a":1}');
    expect((await post('/', [], Buffer.alloc(0), signal())).body.toString()).toBe('{"a":1}');
    expect(new Set(requests.map((r) => r.port)).size).toBe(2);
  });

  it('an answer followed by more octets than it announced: the connection is not used again', async () => {
    script = (s) => send(s, ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n']);
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    expect((await post('/', [], Buffer.alloc(0), signal())).body.toString()).toBe('ok');
    expect((await post('/', [], Buffer.alloc(0), signal())).body.toString()).toBe('ok');
    expect(new Set(requests.map((r) => r.port)).size).toBe(2);
  });

  it('skips an interim 100 Continue; passes other statuses to the caller', async () => {
    script = (s) => send(s, ['HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy']);
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    expect(await post('/', [], Buffer.alloc(0), signal())).toEqual({ status: 503, body: Buffer.from('busy') });
  });

  it('a kept connection the server closes as the next request arrives: that request goes again on a new one', async () => {
    const served = new Map<Socket, number>();
    script = (s) => {
      const n = (served.get(s) ?? 0) + 1;
      served.set(s, n);
      // A keep-alive timeout racing the request: the server hangs up without answering.
      if (n === 2) return void s.destroy();
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n${served.size}`);
    };
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    expect((await post('/', [], Buffer.alloc(0), signal())).body.toString()).toBe('1');
    expect((await post('/', [], Buffer.alloc(0), signal())).body.toString()).toBe('2');
    expect(requests).toHaveLength(3);
    expect(requests[1]!.port).toBe(requests[0]!.port);
    expect(requests[2]!.port).not.toBe(requests[0]!.port);
  });

  it.each([
    ['an answer longer than the limit (Content-Length)', ['HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n'], /too large/],
    ['an answer longer than the limit (chunked)', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', `800\r\n${'x'.repeat(2048)}\r\n0\r\n\r\n`], /too large/],
    ['a head that never ends', ['HTTP/1.1 200 OK\r\n', `X: ${'y'.repeat(70_000)}`], /head too large/],
    ['something that is not HTTP', ['SSH-2.0-OpenSSH_9.2\r\n\r\n'], /not an HTTP\/1.x answer/],
    ['a bad Content-Length', ['HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'], /Content-Length/],
    ['a bad chunk size', ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'], /chunk size/],
  ])('%s is an error', async (_name, pieces, error) => {
    script = (s) => send(s, pieces);
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    await expect(post('/', [], Buffer.alloc(0), signal())).rejects.toThrow(error);
  });

  it('a connection closed in the middle of the answer is an error, not a short body', async () => {
    script = (s) => send(s, ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'], true);
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    await expect(post('/', [], Buffer.alloc(0), signal())).rejects.toThrow(/before the answer was complete/);
  });

  it('refuses to send a header that would inject lines', async () => {
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    await expect(post('/', [['From', 'a@x.test\r\nPassword: x']], Buffer.alloc(0), signal())).rejects.toThrow(Http1Error);
    await expect(post('/', [['Bad Name', 'v']], Buffer.alloc(0), signal())).rejects.toThrow(Http1Error);
    expect(requests).toHaveLength(0);
  });

  it('aborting ends the request with the signal’s reason and closes the connection', async () => {
    script = () => {}; // never answers
    const post = createHttp1Post(url(), { maxResponseBytes: 1024 });
    const ac = new AbortController();
    const p = post('/', [], Buffer.alloc(0), ac.signal);
    await new Promise((r) => setTimeout(r, 30));
    const before = sockets.size;
    ac.abort(new Error('budget spent'));
    await expect(p).rejects.toThrow('budget spent');
    await new Promise((r) => setTimeout(r, 30));
    expect(sockets.size).toBe(before - 1);
  });

  it('unix:/path: the same exchange over a Unix-domain socket (Host: localhost), and its connection kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hopmail-http1-'));
    const path = join(dir, 'upstream.sock');
    const seen: string[] = [];
    let connections = 0;
    const unix = createServer((socket) => {
      connections++;
      let buf = '';
      socket.on('data', (d) => {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        const length = end < 0 ? -1 : Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (end < 0 || buf.length < end + 4 + length) return;
        seen.push(buf.slice(0, end + 4 + length));
        buf = '';
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nunix');
      });
    });
    await new Promise<void>((r) => unix.listen(path, r));
    try {
      const post = createHttp1Post(new URL(`unix:${path}`), { maxResponseBytes: 1024 });
      for (const body of ['one', 'two']) {
        const r = await post('/checkv2', [['Queue-Id', body]], Buffer.from(body), signal());
        expect(r).toEqual({ status: 200, body: Buffer.from('unix') });
      }
      expect(seen).toEqual([
        'POST /checkv2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nQueue-Id: one\r\n\r\none',
        'POST /checkv2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nQueue-Id: two\r\n\r\ntwo',
      ]);
      expect(connections).toBe(1);
      // A socket nobody listens on is an error, as an unreachable host is.
      await expect(createHttp1Post(new URL(`unix:${path}.none`), { maxResponseBytes: 1024 })('/', [], Buffer.alloc(0), signal())).rejects.toThrow(/ENOENT/);
    } finally {
      unix.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unreachable upstream is an error', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const gone = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const post = createHttp1Post(new URL(`http://127.0.0.1:${gone}`), { maxResponseBytes: 1024 });
    await expect(post('/', [], Buffer.alloc(0), signal())).rejects.toThrow(/ECONNREFUSED/);
  });
});
