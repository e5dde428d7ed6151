// The rspamd client on the wire, against a stand-in HTTP server that records what it gets:
// one Rcpt header line per recipient, only the first RSPAMD_MAX_SIZE octets of a large
// message, the outbound Settings-ID only for an authenticated user, the abort signal honoured,
// connections kept when the server allows it and no cap on the scans in flight.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRspamdFilter } from './rspamd.ts';

let server: Server;
let url = '';
const seen: { raw: string[]; bytes: number; port: number }[] = [];
let hang = false;
/** When set, answers wait until this many requests are in (all of them in flight at once). */
let gate: { n: number; waiting: (() => void)[] } | null = null;

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      seen.push({ raw: req.rawHeaders, bytes, port: req.socket.remotePort! });
      if (hang) return;
      const answer = () => {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ action: 'no action', score: 0.5, required_score: 15, symbols: {} }));
      };
      if (!gate) return answer();
      gate.waiting.push(answer);
      if (gate.waiting.length >= gate.n) for (const a of gate.waiting.splice(0)) a();
    });
  }).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const envelope = { queueId: 'q1', ip: '2001:db8::5', helo: 'h.test', hostname: null, mailFrom: 's@x.test', recipients: ['a@y.test', 'b@y.test'], user: null };
const values = (raw: string[], name: string) => raw.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === name.toLowerCase() ? [raw[i + 1]!] : []));

describe('rspamd client', () => {
  it('sends one Rcpt line per recipient and the envelope headers; no Settings-ID without a user', async () => {
    const f = createRspamdFilter({ url, maxSize: 1 << 20, outboundSettingsId: 'outbound' });
    const r = await f.check(Buffer.from('Subject: x\r\n\r\nhi\r\n'), envelope, new AbortController().signal);
    expect(r.action).toBe('no action');
    const { raw } = seen.at(-1)!;
    expect(values(raw, 'Rcpt')).toEqual(['a@y.test', 'b@y.test']);
    expect(values(raw, 'IP')).toEqual(['2001:db8::5']);
    expect(values(raw, 'Queue-Id')).toEqual(['q1']);
    expect(values(raw, 'Settings-ID')).toEqual([]);
  });

  it('a 50 MiB message: only the first maxSize octets are sent; a user gets the outbound Settings-ID', async () => {
    const f = createRspamdFilter({ url, maxSize: 1 << 20, outboundSettingsId: 'outbound' });
    await f.check(Buffer.alloc(50 * 1024 * 1024, 0x61), { ...envelope, user: 'u@x.test' }, new AbortController().signal);
    const { raw, bytes } = seen.at(-1)!;
    expect(bytes).toBe(1 << 20);
    expect(values(raw, 'Settings-ID')).toEqual(['outbound']);
    expect(values(raw, 'User')).toEqual(['u@x.test']);
  });

  it('aborting (the ingress budget) ends the request with an error', async () => {
    hang = true;
    const f = createRspamdFilter({ url, maxSize: 1 << 20 });
    const ac = new AbortController();
    const p = f.check(Buffer.from('x'), envelope, ac.signal);
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toThrow();
    hang = false;
  });

  it('keeps the connection for the next scan when the server allows it (rspamd 3.4 does not: Connection: close)', async () => {
    const f = createRspamdFilter({ url, maxSize: 1 << 20 });
    const from = seen.length;
    for (let i = 0; i < 3; i++) await f.check(Buffer.from('Subject: x\r\n\r\nhi\r\n'), envelope, new AbortController().signal);
    expect(new Set(seen.slice(from).map((s) => s.port)).size).toBe(1);
  });

  it('sends every scan at once: no agent socket limit queues them behind each other', async () => {
    const f = createRspamdFilter({ url, maxSize: 1 << 20 });
    // Node's old default agent allowed 5 sockets per host; the answers come only once all 64 are in.
    gate = { n: 64, waiting: [] };
    try {
      const rs = await Promise.all(Array.from({ length: 64 }, () => f.check(Buffer.from('Subject: x\r\n\r\nhi\r\n'), envelope, new AbortController().signal)));
      expect(rs.every((r) => r.action === 'no action')).toBe(true);
    } finally {
      gate = null;
    }
  });

  it('an https: URL (rspamd behind a TLS proxy) is scanned over TLS, verified against RSPAMD_CA_FILE', async () => {
    const ca = createSelfSignedCertificate({ names: ['Hopmail Test CA'], ca: true, days: 2 });
    const leaf = createSelfSignedCertificate({ names: ['127.0.0.1'], issuer: ca });
    const tls = createHttpsServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
      req.resume();
      req.on('end', () => res.setHeader('Content-Type', 'application/json').end(JSON.stringify({ action: 'reject', score: 99, required_score: 15, symbols: {} })));
    }).listen(0, '127.0.0.1');
    await new Promise((r) => tls.once('listening', r));
    const httpsUrl = `https://127.0.0.1:${(tls.address() as { port: number }).port}`;
    try {
      const trusted = createRspamdFilter({ url: httpsUrl, maxSize: 1024, ca: ca.cert });
      expect(await trusted.check(Buffer.from('Subject: x\r\n\r\nhi\r\n'), envelope, AbortSignal.timeout(5000))).toMatchObject({ action: 'reject', score: 99 });
      // Without the CA the certificate is not trusted: an error (fail-open or fail-closed decides), never a scan in clear.
      const untrusted = createRspamdFilter({ url: httpsUrl, maxSize: 1024 });
      await expect(untrusted.check(Buffer.from('Subject: x\r\n\r\nhi\r\n'), envelope, AbortSignal.timeout(5000))).rejects.toThrow(/certificate/);
    } finally {
      tls.closeAllConnections();
      tls.close();
    }
  });
});
