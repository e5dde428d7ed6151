// Shared set-up for routing's integration tests: a migrated database of its own, a Redis
// prefix of its own, a directory of domains/mailboxes/aliases, and an app built on them.
import { loadConfig } from '@hopmail/config';
import { insertMessage, type Pool } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { queueRedis } from '@hopmail/service-kit';
import { createLogger, prom } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { createApp, type RoutingApp } from '../src/app.ts';
import { configSchema, type Config } from '../src/config.ts';

export function testConfig(env: Record<string, string>): Config {
  return loadConfig('routing', configSchema, { env: { LOG_LEVEL: 'silent', DIRECTORY_CACHE_MS: '0', ...env }, argv: [] });
}

export function buildApp(pool: Pool, redis: Redis, env: Record<string, string>): RoutingApp {
  const config = testConfig(env);
  return createApp({ config, logger: createLogger('routing', config.LOG_LEVEL), registry: new prom.Registry(), pool, redis });
}

/**
 * The pool with its `query` (statements) or `connect` (transactions) calls counted: how many
 * round trips a path costs. The database behind it is the real one.
 */
export function countCalls(pool: Pool, method: 'query' | 'connect'): { pool: Pool; calls(): number; reset(): void } {
  let n = 0;
  const counted = new Proxy(pool, {
    get(target, key) {
      const v = Reflect.get(target, key);
      if (typeof v !== 'function') return v;
      if (key === method) return (...args: unknown[]) => (n++, (v as (...a: unknown[]) => unknown).apply(target, args));
      return v.bind(target);
    },
  });
  return { pool: counted, calls: () => n, reset: () => (n = 0) };
}

export function redisFor(url: string): Redis {
  return queueRedis(url);
}

export async function addDomain(pool: Pool, name: string, kind: 'local' | 'relay' = 'local'): Promise<number> {
  const r = await pool.query<{ id: number }>('INSERT INTO domains (name, kind) VALUES ($1, $2) RETURNING id', [name, kind]);
  return r.rows[0]!.id;
}

export async function addMailbox(pool: Pool, address: string, quotaBytes = 0): Promise<number> {
  const [local, domain] = address.split('@') as [string, string];
  const r = await pool.query<{ id: number }>(
    `INSERT INTO mailboxes (domain_id, local_part, address, password_hash, quota_bytes)
     SELECT id, $1, $2, 'x', $3 FROM domains WHERE lower(name) = lower($4) RETURNING id`,
    [local, address, quotaBytes, domain],
  );
  if (!r.rows[0]) throw new Error(`no domain for ${address}`);
  return r.rows[0].id;
}

export async function addAlias(pool: Pool, source: string, targets: string[]): Promise<void> {
  const domain = source.slice(source.lastIndexOf('@') + 1);
  await pool.query(`INSERT INTO aliases (domain_id, source, targets) SELECT id, $1, $2 FROM domains WHERE lower(name) = lower($3)`, [source, targets, domain]);
}

export async function newMessage(pool: Pool, recipients: string[], opts: { mailFrom?: string; body?: string } = {}): Promise<string> {
  const id = newMessageId();
  const raw = Buffer.from(`From: s@sender.test\r\nSubject: t\r\n\r\n${opts.body ?? 'hello'}\r\n`);
  await insertMessage(pool, { id, raw, mailFrom: opts.mailFrom ?? 's@sender.test', recipients });
  return id;
}

export async function copies(pool: Pool, messageId: string): Promise<string[]> {
  const r = await pool.query<{ address: string }>(
    `SELECT mb.address FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id WHERE mm.message_id = $1 ORDER BY mb.address`,
    [messageId],
  );
  return r.rows.map((x) => x.address);
}

export interface RcptRow {
  address: string;
  domain: string;
  status: string;
  last_reply: string | null;
  original: string | null;
  due: boolean;
}

export async function recipients(pool: Pool, messageId: string): Promise<RcptRow[]> {
  const r = await pool.query<RcptRow>(
    `SELECT r.address, r.domain, r.status, r.last_reply, o.address AS original, (r.next_attempt_at IS NOT NULL AND r.next_attempt_at <= now()) AS due
       FROM recipients r LEFT JOIN recipients o ON o.id = r.original_id
      WHERE r.message_id = $1 ORDER BY r.id`,
    [messageId],
  );
  return r.rows;
}
