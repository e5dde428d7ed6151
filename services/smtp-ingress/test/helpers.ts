// Shared helpers for smtp-ingress tests (and the cross-service tests that start an ingress):
// the app started in-process on port 0 against a per-file test database and Redis prefix,
// and a raw-socket SMTP client that sees the exact bytes (transcript tests).

import { X509Certificate } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { createPool, type Pool } from '@hopmail/db';
import { createLogger, createRegistry, queueRedis } from '@hopmail/service-kit';
import { baseUrls, createTestDatabase, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import { createSelfSignedCertificate } from '@hopmail/tls';
import type { Redis } from 'ioredis';
import { afterEach, expect } from 'vitest';
import { Writable } from 'node:stream';
import { certificatesFor, createApp, type IngressApp } from '../src/app.ts';
import { configSchema, type Config } from '../src/config.ts';

export const HOSTNAME = 'mx.test.example';

/** Domains, mailboxes and aliases most tests use. */
export async function seedDirectory(pool: Pool): Promise<void> {
  await pool.query(`INSERT INTO domains (name, kind) VALUES ('example.org', 'local'), ('relay.example', 'relay'), ('${HOSTNAME}', 'local')`);
  const mbox = async (local: string, domain: string) =>
    pool.query(`INSERT INTO mailboxes (domain_id, local_part, address, password_hash) SELECT id, $1, $1 || '@' || name, 'x' FROM domains WHERE name = $2`, [local, domain]);
  for (const l of ['alice', 'bob', 'carol']) await mbox(l, 'example.org');
  await mbox('postmaster', HOSTNAME);
  const alias = async (source: string, targets: string[]) =>
    pool.query(`INSERT INTO aliases (domain_id, source, targets) SELECT id, $1, $2 FROM domains WHERE name = $3`, [source, targets, source.split('@')[1]]);
  await alias('loop1@example.org', ['loop2@example.org']);
  await alias('loop2@example.org', ['loop1@example.org']);
  await alias('team@example.org', ['alice@example.org', 'bob@example.org']);
}

export interface TestIngress {
  app: IngressApp;
  port: number;
  config: Config;
  db: TestDatabase;
  pool: Pool;
  redis: Redis;
  prefix: string;
  /** Parsed log lines. */
  logs: Record<string, unknown>[];
  /** The app's metrics registry. */
  registry: ReturnType<typeof createRegistry>;
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Use this database (shared across a file) instead of creating one. */
  db?: TestDatabase;
  /** DATABASE_URL for the service's pool (e.g. through startTcpProxy); defaults to db.url. */
  databaseUrl?: string;
  /** Share a Redis prefix with another instance (two replicas); defaults to a fresh one. */
  prefix?: string;
  /** Waits before failed AUTH replies; defaults to real timers. */
  sleep?: (ms: number) => Promise<void>;
  /** The service's clock (greylisting, SRS). */
  now?: () => Date;
}

/** Starts the service in-process on 127.0.0.1:0. */
export async function startIngress(opts: StartOptions = {}): Promise<TestIngress> {
  const ownDb = !opts.db;
  const db = opts.db ?? (await createTestDatabase());
  if (ownDb) await seedDirectory(db.pool);
  const prefix = opts.prefix ?? redisPrefix();
  const config = configSchema.parse({
    NODE_ENV: 'test',
    DATABASE_URL: opts.databaseUrl ?? db.url,
    REDIS_URL: baseUrls().redisUrl,
    REDIS_PREFIX: prefix,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: '0',
    SMTP_HOSTNAME: HOSTNAME,
    SMTP_REVERSE_LOOKUP: 'false',
    DIRECTORY_CACHE_MS: '0',
    SMTP_CLOSE_TIMEOUT_MS: '2000',
    // Inbound SPF/DKIM/DMARC needs a DNS server; auth-in.test.ts turns it on against fake DNS.
    INBOUND_AUTH: 'false',
    ...opts.env,
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = createLogger('smtp-ingress', 'debug', sink);
  const pool = createPool(config.DATABASE_URL, 5, 'hopmail-smtp-ingress-test');
  const redis = queueRedis(config.REDIS_URL);
  // What runService() would hand over (main.ts).
  const registry = createRegistry('smtp-ingress');
  const app = createApp({ config, logger, registry, pool, redis, certificates: certificatesFor(config, logger), sleep: opts.sleep, now: opts.now });
  await app.start();
  return {
    app,
    port: app.ports.mx!,
    config,
    db,
    pool,
    redis,
    prefix,
    logs,
    registry,
    async stop() {
      await app.stop();
      redis.disconnect();
      await pool.end();
      if (ownDb) await db.drop();
    },
  };
}

/**
 * A raw SMTP client: writes exactly the bytes it is given and splits what comes back
 * into replies (RFC 5321 §4.2: lines "NNN-" continue, "NNN " ends a reply).
 */
export class SmtpClient {
  readonly socket: Socket | TLSSocket;
  /** Every byte received, latin1-decoded (byte-exact). */
  received = '';
  private pending = '';
  private replies: string[][] = [];
  private current: string[] = [];
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      const s = d.toString('latin1');
      this.received += s;
      this.pending += s;
      let i: number;
      while ((i = this.pending.indexOf('\r\n')) >= 0) {
        const line = this.pending.slice(0, i);
        this.pending = this.pending.slice(i + 2);
        this.current.push(line);
        if (!/^\d{3}-/.test(line)) {
          this.replies.push(this.current);
          this.current = [];
        }
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /**
   * Starts TLS on this connection (after the server's 220 to STARTTLS) and returns a new
   * client reading from the TLS socket. Replies not yet read on this one stay here.
   */
  async startTls(options: ConnectionOptions = {}): Promise<SmtpClient> {
    const s = tlsConnect({ socket: this.socket as Socket, rejectUnauthorized: false, ...options });
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
    const c = new SmtpClient(s);
    c.peerFingerprint = s.getPeerX509Certificate()?.fingerprint256 ?? '';
    return c;
  }

  /** Connects with implicit TLS (RFC 8314) and reads the greeting. */
  static async connectTls(port: number, options: ConnectionOptions = {}): Promise<SmtpClient> {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...options });
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
    const c = new SmtpClient(s);
    c.peerFingerprint = s.getPeerX509Certificate()?.fingerprint256 ?? '';
    const g = await c.reply();
    if (!g.startsWith('220 ')) throw new Error(`unexpected greeting ${g}`);
    return c;
  }

  /** SHA-256 fingerprint of the server certificate (TLS clients; read once at the handshake: Node hands it out once). */
  peerFingerprint = '';

  get tlsSocket(): TLSSocket {
    return this.socket as TLSSocket;
  }

  /** Connects without reading the greeting. */
  static open(port: number, host = '127.0.0.1', localAddress?: string): Promise<SmtpClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, localAddress });
      s.once('connect', () => resolve(new SmtpClient(s)));
      s.once('error', reject);
    });
  }

  /** Connects and reads the 220 greeting. */
  static async connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<SmtpClient> {
    const c = await SmtpClient.open(port, host, localAddress);
    const g = await c.reply();
    if (!g.startsWith('220 ')) throw new Error(`unexpected greeting ${g}`);
    return c;
  }

  /** The next complete reply, lines joined with "\n" (no CRLF). */
  async reply(timeoutMs = 5000): Promise<string> {
    return (await this.replyLines(timeoutMs)).join('\n');
  }

  async replyLines(timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.replies.length === 0) {
      if (this.closed) throw new Error(`connection closed while waiting for a reply; received so far: ${JSON.stringify(this.received)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; received so far: ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.replies.shift()!;
  }

  /** Replies received but not yet read. */
  get unread(): number {
    return this.replies.length;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Sends one command line (CRLF added) and returns its reply. */
  async cmd(line: string, timeoutMs?: number): Promise<string> {
    this.write(line + '\r\n');
    return this.reply(timeoutMs);
  }

  /** Resolves when the server closed the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** EHLO, MAIL, RCPT…, DATA and the message; returns the reply to the final dot. */
export async function sendMessage(c: SmtpClient, from: string, to: string[], data: string | Buffer, ehlo = true): Promise<string> {
  if (ehlo) expectCode(await c.cmd('EHLO client.test'), 250);
  expectCode(await c.cmd(`MAIL FROM:<${from}>`), 250);
  for (const r of to) expectCode(await c.cmd(`RCPT TO:<${r}>`), 250);
  expectCode(await c.cmd('DATA'), 354);
  c.write(data);
  return c.reply();
}

export function expectCode(reply: string, code: number): void {
  if (!reply.startsWith(String(code))) throw new Error(`expected ${code}, got ${JSON.stringify(reply)}`);
}

/** AUTH PLAIN's initial response (RFC 4616): authzid NUL authcid NUL password, base64. */
export function plain(user: string, password: string, authzid = ''): string {
  return Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8').toString('base64');
}

/** A self-signed certificate pair written to `dir` (renamed into place, as certbot does). */
export function writeCertificate(dir: string, name: string, names: string[]): { certFile: string; keyFile: string; fingerprint: string } {
  const { cert, key } = createSelfSignedCertificate({ names });
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(`${keyFile}.new`, key);
  writeFileSync(`${certFile}.new`, cert);
  renameSync(`${keyFile}.new`, keyFile);
  renameSync(`${certFile}.new`, certFile);
  return { certFile, keyFile, fingerprint: new X509Certificate(cert).fingerprint256 };
}

/** A small valid message, CRLF throughout, ending with the terminator. */
export function simpleMessage(subject = 'hello', body = 'Hello there.'): string {
  return `From: <sender@remote.test>\r\nTo: <alice@example.org>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@remote.test>\r\n\r\n${body}\r\n.\r\n`;
}

export async function countMessages(pool: Pool): Promise<number> {
  const r = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM messages');
  return r.rows[0]!.n;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The clients a test file opens (push them as they connect): after each test every reply
 * they received carries an enhanced status code (RFC 2034), smtp-server's own included, and
 * they are closed.
 */
export function checkedClients(): SmtpClient[] {
  const clients: SmtpClient[] = [];
  afterEach(() => {
    for (const c of clients.splice(0)) {
      expect(repliesWithoutEnhancedCode(c.received)).toEqual([]);
      c.close();
    }
  });
  return clients;
}

/**
 * Reply lines in a byte transcript that lack an RFC 2034 enhanced status code. Exempt:
 * the 220 greeting, the 250 reply to EHLO/HELO (RFC 2034 §3) and 354 (no class 3).
 */
export function repliesWithoutEnhancedCode(received: string): string[] {
  const lines = received.split('\r\n').filter(Boolean);
  const bad: string[] = [];
  let inEhlo = false;
  for (const [i, line] of lines.entries()) {
    if (i === 0 && line.startsWith('220 ')) continue;
    if (/^250[ -]\S+ Hello /.test(line)) {
      inEhlo = line[3] === '-';
      continue;
    }
    if (inEhlo) {
      inEhlo = line[3] === '-';
      continue;
    }
    if (line.startsWith('354 ')) continue;
    if (!/^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3} /.test(line)) bad.push(line);
  }
  return bad;
}
