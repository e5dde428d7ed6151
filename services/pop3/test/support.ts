// pop3 test scaffolding, shared by the integration tests and bench/pop3.ts: seed mailboxes
// and mail, start the app in-process with the dependencies runService() would give it, and a
// minimal raw POP3 client that checks exact bytes.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateStoreFromConfig, createSelfSignedCertificate } from '@hopmail/tls';
import { createPool, insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { createLogger, createRegistry, failFastRedis, type Logger, type prom } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { loadConfig } from '@hopmail/config';
import { createApp, type Pop3App } from '../src/app.ts';
import { configSchema, type Config } from '../src/config.ts';
import { hashPassword } from '@hopmail/login';

export async function seedMailbox(pool: pg.Pool, address: string, password: string): Promise<string> {
  const domain = address.slice(address.indexOf('@') + 1);
  await pool.query("INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING", [domain]).catch(() => {});
  const d = await pool.query<{ id: string }>('SELECT id::text AS id FROM domains WHERE lower(name) = lower($1)', [domain]);
  const r = await pool.query<{ id: string }>(
    'INSERT INTO mailboxes (domain_id, local_part, address, password_hash) VALUES ($1, $2, $3, $4) RETURNING id::text AS id',
    [d.rows[0]!.id, address.slice(0, address.indexOf('@')), address, await hashPassword(password)],
  );
  return r.rows[0]!.id;
}

/** Commits a message with insertMessage and files it in the mailbox the way routing does. */
export async function deliver(pool: pg.Pool, mailboxId: string, address: string, raw: Buffer): Promise<string> {
  const id = newMessageId();
  await insertMessage(pool, { id, raw, mailFrom: 'sender@example.net', recipients: [address] });
  await pool.query(
    `INSERT INTO mailbox_messages (mailbox_id, message_id, recipient_id, uidl, size)
     SELECT $1, $2::uuid, r.id, $4::text, $3 FROM recipients r WHERE r.message_id = $2::uuid`,
    [mailboxId, id, raw.length, id],
  );
  await pool.query("UPDATE recipients SET status = 'delivered' WHERE message_id = $1", [id]);
  return id;
}

export interface TestApp {
  app: Pop3App;
  config: Config;
  redis: Redis;
  registry: prom.Registry;
  stop(): Promise<void>;
}

export async function startTestApp(env: Record<string, string>, logger?: Logger): Promise<TestApp> {
  const config = loadConfig('pop3', configSchema, {
    env: { POP3_HOST: '127.0.0.1', POP3_PORT: '0', HEALTH_PORT: '0', LOG_LEVEL: 'silent', ...env },
    argv: [],
  });
  // The role runService() gives pop3 (fail-fast), connected before the first login.
  const redis = failFastRedis(config.REDIS_URL, { lazyConnect: true });
  await redis.connect();
  const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, 'hopmail-pop3-test');
  const log = logger ?? createLogger('pop3', config.LOG_LEVEL);
  const certificates = certificateStoreFromConfig(config, log);
  const registry = createRegistry('pop3');
  const app = createApp({ config, logger: log, registry, pool, redis, certificates });
  await app.start();
  return {
    app,
    config,
    redis,
    registry,
    async stop() {
      await app.stop();
      redis.disconnect();
      await pool.end();
    },
  };
}

/** A self-signed pair written the way certbot does (key first, renamed into place). */
export function writeCertificate(dir: string, names: string[] = ['localhost', '127.0.0.1']): { certFile: string; keyFile: string } {
  const { cert, key } = createSelfSignedCertificate({ names });
  const certFile = join(dir, 'pop3.crt');
  const keyFile = join(dir, 'pop3.key');
  writeFileSync(keyFile + '.new', key);
  renameSync(keyFile + '.new', keyFile);
  writeFileSync(certFile + '.new', cert);
  renameSync(certFile + '.new', certFile);
  return { certFile, keyFile };
}

/** A raw POP3 client: exact bytes, no un-stuffing unless asked. */
export class RawClient {
  socket: Socket;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;
  private readonly onData = (d: Buffer) => {
    this.buf = Buffer.concat([this.buf, d]);
    this.wake();
  };
  private readonly onClose = () => {
    this.ended = true;
    this.wake();
  };

  private constructor(socket: Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  private listen(socket: Socket) {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<RawClient> {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    return new RawClient(s);
  }

  /** Implicit TLS (port 995). Certificates are not verified (self-signed test pairs). */
  static async connectTls(port: number, servername?: string): Promise<RawClient> {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, servername });
    await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
    return new RawClient(s);
  }

  /** After `+OK` to STLS: the TLS handshake over the same TCP connection. */
  async startTls(servername?: string): Promise<TLSSocket> {
    if (this.buf.length > 0) throw new Error(`unread bytes before TLS: ${JSON.stringify(this.buf.toString('latin1'))}`);
    const raw = this.socket;
    raw.off('data', this.onData);
    raw.off('close', this.onClose);
    const s = tlsConnect({ socket: raw, rejectUnauthorized: false, servername });
    await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
    this.socket = s;
    this.listen(s);
    return s;
  }

  get tls(): TLSSocket | null {
    return 'encrypted' in this.socket ? (this.socket as TLSSocket) : null;
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  private async until(pred: (b: Buffer) => number): Promise<Buffer> {
    for (;;) {
      const n = pred(this.buf);
      if (n >= 0) {
        const out = this.buf.subarray(0, n);
        this.buf = this.buf.subarray(n);
        return out;
      }
      if (this.ended) throw new Error(`connection closed; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** One reply line, CRLF stripped. */
  async line(): Promise<string> {
    const b = await this.until((b) => {
      const i = b.indexOf('\r\n');
      return i < 0 ? -1 : i + 2;
    });
    return b.subarray(0, b.length - 2).toString('latin1');
  }

  /** A multi-line body after its +OK line: un-stuffed bytes, terminator removed. */
  async body(): Promise<Buffer> {
    const b = await this.until((b) => {
      if (b.subarray(0, 3).equals(Buffer.from('.\r\n'))) return 3;
      const i = b.indexOf('\r\n.\r\n');
      return i < 0 ? -1 : i + 5;
    });
    const content = b.subarray(0, b.length - 3);
    const parts: Buffer[] = [];
    let from = 0;
    let lineStart = 0;
    while (lineStart < content.length) {
      if (content[lineStart] === 0x2e) {
        parts.push(content.subarray(from, lineStart));
        from = lineStart + 1;
      }
      const lf = content.indexOf(0x0a, lineStart);
      if (lf < 0) break;
      lineStart = lf + 1;
    }
    parts.push(content.subarray(from));
    return Buffer.concat(parts);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async cmd(text: string): Promise<string> {
    this.send(text + '\r\n');
    return this.line();
  }

  async login(user: string, pass: string): Promise<string> {
    await this.line(); // greeting
    const u = await this.cmd(`USER ${user}`);
    if (!u.startsWith('+OK')) throw new Error(u);
    return this.cmd(`PASS ${pass}`);
  }

  async closed(): Promise<void> {
    if (this.ended) return;
    await new Promise<void>((r) => this.socket.once('close', () => r()));
  }

  close(): void {
    this.socket.destroy();
  }
}
