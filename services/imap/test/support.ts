// imap test scaffolding: start the app in-process with the dependencies runService() would
// give it, and a raw IMAP client that checks exact lines (literals included).
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateStoreFromConfig, createSelfSignedCertificate } from '@hopmail/tls';
import { createPool } from '@hopmail/db';
import { createLogger, createRegistry, failFastRedis, type Logger } from '@hopmail/service-kit';
import { loadConfig } from '@hopmail/config';
import type { Redis } from 'ioredis';
import { createApp, type ImapApp } from '../src/app.ts';
import { configSchema, type Config } from '../src/config.ts';

export interface TestApp {
  app: ImapApp;
  registry: ReturnType<typeof createRegistry>;
  config: Config;
  redis: Redis;
  /** The app's PostgreSQL pool. */
  pool: pg.Pool;
  stop(): Promise<void>;
}

export function writeCertificate(): { certFile: string; keyFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hopmail-imap-cert-'));
  const { cert, key } = createSelfSignedCertificate({ names: ['localhost', '127.0.0.1'] });
  const certFile = join(dir, 'imap.crt');
  const keyFile = join(dir, 'imap.key');
  writeFileSync(keyFile, key);
  writeFileSync(certFile, cert);
  return { certFile, keyFile };
}

export async function startTestApp(env: Record<string, string>, logger?: Logger): Promise<TestApp> {
  const config = loadConfig('imap', configSchema, {
    env: { IMAP_HOST: '127.0.0.1', IMAP_PORT: '0', IMAPS_PORT: '0', HEALTH_PORT: '0', LOG_LEVEL: 'silent', AUTH_FAILURE_DELAY_MS: '0', ...env },
    argv: [],
  });
  const redis = failFastRedis(config.REDIS_URL, { lazyConnect: true });
  await redis.connect();
  const pool = createPool(config.DATABASE_URL, config.DATABASE_POOL_SIZE, 'hopmail-imap-test');
  const log = logger ?? createLogger('imap', config.LOG_LEVEL);
  const certificates = certificateStoreFromConfig(config, log);
  const registry = createRegistry('imap');
  const app = createApp({ config, logger: log, registry, pool, redis, certificates });
  await app.start();
  return {
    app,
    registry,
    config,
    redis,
    pool,
    async stop() {
      await app.stop();
      redis.disconnect();
      await pool.end();
    },
  };
}

/** A raw IMAP client: writes exact bytes, reads lines and literals. */
export class RawImap {
  socket: Socket;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;
  private n = 0;
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
    this.attach(socket);
  }

  private attach(s: Socket) {
    s.on('data', this.onData);
    s.on('close', this.onClose);
    s.on('error', () => {});
  }

  static async connect(port: number): Promise<RawImap> {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    return new RawImap(s);
  }

  static async connectTls(port: number): Promise<RawImap> {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
    return new RawImap(s);
  }

  async startTls(): Promise<void> {
    const raw = this.socket;
    raw.off('data', this.onData);
    raw.off('close', this.onClose);
    const s = tlsConnect({ socket: raw, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => s.once('secureConnect', resolve).once('error', reject));
    this.socket = s;
    this.attach(s);
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  private async more(timeoutMs = 10_000): Promise<void> {
    if (this.ended) throw new Error(`connection closed; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
    await new Promise<void>((r, j) => {
      const t = setTimeout(() => j(new Error(`timeout; have ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`)), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }

  /** One response line with any literals inlined (as `{n}\r\n` + bytes), CRLF stripped. */
  async line(timeoutMs?: number): Promise<string> {
    let pos = 0;
    for (;;) {
      const i = this.buf.indexOf('\r\n', pos);
      if (i < 0) {
        await this.more(timeoutMs);
        continue;
      }
      const m = /\{(\d+)\}$/.exec(this.buf.subarray(pos, i).toString('latin1'));
      if (m) {
        const need = i + 2 + Number(m[1]);
        if (this.buf.length < need) {
          await this.more(timeoutMs);
          continue;
        }
        pos = need;
        continue;
      }
      const out = this.buf.subarray(0, i).toString('utf8');
      this.buf = this.buf.subarray(i + 2);
      return out;
    }
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Sends `tag command` and returns every line up to and including the tagged one. */
  async cmd(command: string, tag = `a${++this.n}`): Promise<string[]> {
    this.send(`${tag} ${command}\r\n`);
    return this.until(tag);
  }

  async until(tag: string): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const l = await this.line();
      out.push(l);
      if (l.startsWith(`${tag} `)) return out;
    }
  }

  async closed(): Promise<void> {
    if (this.ended) return;
    await new Promise<void>((r) => this.socket.once('close', () => r()));
  }

  close(): void {
    this.socket.destroy();
  }
}

import type pg from 'pg';
import { hashPassword } from '@hopmail/login';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';

export async function seedMailbox(pool: pg.Pool, address: string, password: string): Promise<string> {
  const domain = address.slice(address.indexOf('@') + 1);
  await pool.query('INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING', [domain]).catch(() => {});
  const d = await pool.query<{ id: string }>('SELECT id::text AS id FROM domains WHERE lower(name) = lower($1)', [domain]);
  const r = await pool.query<{ id: string }>(
    'INSERT INTO mailboxes (domain_id, local_part, address, password_hash) VALUES ($1, $2, $3, $4) RETURNING id::text AS id',
    [d.rows[0]!.id, address.slice(0, address.indexOf('@')), address, await hashPassword(password)],
  );
  return r.rows[0]!.id;
}

/** Commits a message and files it the way routing does (no folder given: the trigger picks INBOX). */
export async function deliver(pool: pg.Pool, mailboxId: string, address: string, raw: Buffer): Promise<string> {
  const id = newMessageId();
  await insertMessage(pool, { id, raw, mailFrom: 'sender@example.net', recipients: [address] });
  await pool.query(
    `INSERT INTO mailbox_messages (mailbox_id, message_id, recipient_id, uidl, size)
     SELECT $1, $2::uuid, r.id, $4::text, $3 FROM recipients r WHERE r.message_id = $2::uuid`,
    [mailboxId, id, raw.length, id],
  );
  return id;
}

export function sampleMessage(subject: string, body = 'Hello there.\r\n'): Buffer {
  return Buffer.from(
    `From: "Ann Sender" <ann@example.net>\r\nTo: reader@example.org, "Bob" <bob@example.org>\r\nSubject: ${subject}\r\nDate: Sun, 06 Dec 2026 05:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.net>\r\n\r\n${body}`,
  );
}
