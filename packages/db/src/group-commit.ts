import type pg from 'pg';
import { createBatcher } from './batcher.ts';
import { distinctRecipients, insertMessage, recipientDsnColumns, type NewMessage } from './messages.ts';

/**
 * Group commit for the SMTP hot path. Messages that arrive while earlier commits are in
 * flight are written together in one multi-row statement — one round trip, one WAL flush —
 * and each caller's promise settles only when its own rows are committed, so "250 after
 * commit" holds message by message. Under light load a message is written alone at once.
 *
 * A failed batch is retried message by message, so one bad message cannot fail others.
 * Messages larger than `maxBatchBytes` are always written alone (arrays of bytea travel as
 * hex text, which only pays off for small messages).
 */
export interface GroupCommitter {
  insert(m: NewMessage): Promise<void>;
}

export function createGroupCommitter(pool: pg.Pool, options: { maxInFlight?: number; maxBatch?: number; maxBatchBytes?: number } = {}): GroupCommitter {
  const maxBatchBytes = options.maxBatchBytes ?? 64 * 1024;
  const batched = createBatcher<NewMessage, void>(
    async (ms) => {
      await insertMessages(pool, ms);
      return ms.map(() => undefined);
    },
    (m) => insertMessage(pool, m),
    { maxInFlight: options.maxInFlight ?? 4, maxBatch: options.maxBatch ?? 64 },
  );
  return {
    // Held messages (outgoing spam) are rare: written alone, with their recipients' status.
    insert: (m) => (m.raw.length > maxBatchBytes || m.held ? insertMessage(pool, m) : batched(m)),
  };
}

/** Several messages and their recipients in one statement (one implicit transaction). */
export async function insertMessages(db: pg.Pool | pg.PoolClient, messages: readonly NewMessage[]): Promise<void> {
  const cols = {
    id: [] as string[], raw: [] as Buffer[], size: [] as number[], from: [] as string[], ip: [] as (string | null)[], helo: [] as (string | null)[],
    auth: [] as (string | null)[], tls: [] as boolean[], utf8: [] as boolean[], b8: [] as boolean[], bin: [] as boolean[], mid: [] as (string | null)[], ar: [] as (string | null)[], rtls: [] as boolean[], spam: [] as (string | null)[],
    ret: [] as (string | null)[], envid: [] as (string | null)[],
  };
  const rMsg: string[] = [];
  const rAddr: string[] = [];
  const rDomain: string[] = [];
  const rNotify: (string | null)[] = [];
  const rOrcpt: (string | null)[] = [];
  for (const m of messages) {
    cols.id.push(m.id);
    cols.raw.push(m.raw);
    cols.size.push(m.raw.length);
    cols.from.push(m.mailFrom);
    cols.ip.push(m.clientIp ?? null);
    cols.helo.push(m.clientHelo ?? null);
    cols.auth.push(m.authUser ?? null);
    cols.tls.push(m.tls ?? false);
    cols.utf8.push(m.smtputf8 ?? false);
    cols.b8.push(m.body8bit ?? false);
    cols.bin.push(m.bodyBinary ?? false);
    cols.mid.push(m.headerMessageId ?? null);
    cols.ar.push(m.authResults === undefined || m.authResults === null ? null : JSON.stringify(m.authResults));
    cols.rtls.push(m.requireTls ?? false);
    cols.spam.push(m.spam == null ? null : JSON.stringify(m.spam));
    cols.ret.push(m.dsnRet ?? null);
    cols.envid.push(m.dsnEnvid ?? null);
    const rcpts = distinctRecipients(m.recipients);
    const dsn = recipientDsnColumns(m, rcpts);
    rcpts.forEach((r, i) => {
      rMsg.push(m.id);
      rAddr.push(r.address);
      rDomain.push(r.domain);
      rNotify.push(dsn.notify[i]!);
      rOrcpt.push(dsn.orcpt[i]!);
    });
  }
  await db.query({
    name: 'hopmail-insert-messages',
    // The recipients' foreign key is checked at the end of the statement, after the CTE
    // has inserted the messages.
    text: `WITH m AS (
       INSERT INTO messages (id, raw, size, mail_from, client_ip, client_helo, auth_user, tls, smtputf8, body_8bit, header_message_id, auth_results, require_tls, spam, dsn_ret, dsn_envid, body_binary)
       SELECT * FROM unnest($1::uuid[], $2::bytea[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bool[], $9::bool[], $10::bool[], $11::text[], $15::jsonb[], $16::bool[], $17::jsonb[], $18::text[], $19::text[], $22::bool[])
       RETURNING id)
     INSERT INTO recipients (message_id, address, domain, dsn_notify, dsn_orcpt)
     SELECT r.message_id, r.address, r.domain, r.notify::text[], r.orcpt FROM unnest($12::uuid[], $13::text[], $14::text[], $20::text[], $21::text[]) AS r(message_id, address, domain, notify, orcpt)
      WHERE r.message_id IN (SELECT id FROM m)`,
    values: [cols.id, cols.raw, cols.size, cols.from, cols.ip, cols.helo, cols.auth, cols.tls, cols.utf8, cols.b8, cols.mid, rMsg, rAddr, rDomain, cols.ar, cols.rtls, cols.spam, cols.ret, cols.envid, rNotify, rOrcpt, cols.bin],
  });
}
