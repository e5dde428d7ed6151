// Messages as the relay finds them (committed by smtp-ingress, marked by routing), and what
// the relay made of them: recipient rows and the DSNs it wrote.
import { insertMessage, type NewMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import type { TestDatabase } from '@hopmail/test-kit';

export const message = (subject: string, body = 'Hello.\r\n') =>
  Buffer.from(`From: alice@local.test\r\nTo: someone\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@local.test>\r\n\r\n${body}`);

export interface CommitOptions {
  from?: string;
  raw?: Buffer;
  body8bit?: boolean;
  /** BODY=BINARYMIME (RFC 3030). */
  bodyBinary?: boolean;
  smtputf8?: boolean;
  receivedAgoMs?: number;
  /** DSN requests as smtp-ingress stores them (RFC 3461). */
  dsn?: Pick<NewMessage, 'dsnRet' | 'dsnEnvid' | 'recipientDsn'>;
}

/** Commits a message the way smtp-ingress does (recipients `queued`); returns its id. */
export async function commitMessage(db: TestDatabase, rcpts: string[], opts: CommitOptions = {}): Promise<string> {
  const id = newMessageId();
  await insertMessage(db.pool, { id, raw: opts.raw ?? message(id), mailFrom: opts.from ?? 'alice@local.test', recipients: rcpts, body8bit: opts.body8bit ?? false, bodyBinary: opts.bodyBinary ?? false, smtputf8: opts.smtputf8 ?? false, ...opts.dsn });
  if (opts.receivedAgoMs) await db.pool.query(`UPDATE messages SET received_at = now() - make_interval(secs => $2::float8 / 1000) WHERE id = $1`, [id, opts.receivedAgoMs]);
  return id;
}

export type Rcpt = { address: string; status: string; attempts: number; last_reply: string | null; last_mx: string | null; dsn_sent_at: Date | null; delay_warned_at: Date | null };

export async function recipientsOf(db: TestDatabase, id: string): Promise<Record<string, Rcpt>> {
  const r = await db.pool.query<Rcpt>('SELECT address, status, attempts, last_reply, last_mx, dsn_sent_at, delay_warned_at FROM recipients WHERE message_id = $1', [id]);
  return Object.fromEntries(r.rows.map((x) => [x.address, x]));
}

/** The DSNs written about message `id`, oldest first. */
export async function dsnsFor(db: TestDatabase, id: string): Promise<{ id: string; raw: string; to: string }[]> {
  const r = await db.pool.query<{ id: string; raw: Buffer; address: string }>(
    `SELECT m.id, m.raw, r.address FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.mail_from = '' AND position($1 in convert_from(m.raw, 'UTF8')) > 0 ORDER BY m.received_at`,
    [`X-Hopmail-Queue-ID: ${id}`],
  );
  return r.rows.map((x) => ({ id: x.id, raw: x.raw.toString(), to: x.address }));
}
