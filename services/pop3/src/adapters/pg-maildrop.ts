// Backend.openMaildrop on PostgreSQL. Each POP3 session gets one dedicated connection
// that holds a session-level advisory lock on the mailbox (RFC 1939 §8 exclusive access,
// across every replica) and runs all of the session's queries. If this process dies,
// PostgreSQL closes the connection and the lock goes with it.
//
// Deletion removes mailbox_messages rows only. The messages rows stay: other mailboxes
// may hold the same message, remote recipients may still need it, and the admin API's
// message trace reads it; the retention pass deletes a message once no mailbox holds it and
// every recipient is final. The mailbox's usage (mailboxes.used_bytes, message_count) is kept
// by triggers on mailbox_messages (migration 0009), so it is right as soon as UPDATE commits.
import { tryAdvisoryLock } from '@hopmail/db';
import pg from 'pg';
import type { Maildrop, OpenOutcome } from '../protocol/backend.ts';
import { maildropLockKey, uidlFor } from '../policy/limits.ts';
import { Pop3Error } from '../errors.ts';

export interface PgMaildropOptions {
  databaseUrl: string;
  /** Bytes per substring() round trip when streaming a message. */
  chunkBytes: number;
  statementTimeoutMs?: number;
}

interface Row {
  id: string;
  message_id: string;
  uidl: string;
  size: number;
}

/** Most messages one read-ahead query asks for. */
const MAX_READ_AHEAD = 64;

export class PgMaildropStore {
  private readonly options: PgMaildropOptions;
  constructor(options: PgMaildropOptions) {
    this.options = options;
  }

  async open(mailboxId: string): Promise<OpenOutcome> {
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: 'hopmail-pop3-maildrop',
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
      statement_timeout: this.options.statementTimeoutMs ?? 60_000,
    });
    let lost: Error | null = null;
    client.on('error', (e) => {
      lost = e;
    });
    try {
      await client.connect();
      if (!(await tryAdvisoryLock(client, maildropLockKey(mailboxId)))) {
        await client.end().catch(() => {});
        return { ok: false, reason: 'in-use' };
      }
      // The snapshot (RFC 1939 §5: numbers fixed for the session), of INBOX only: IMAP's other
      // folders (migration 0018) are not POP3's, and deleting a row here is an IMAP expunge. octet_length() reads the
      // TOAST header only, and is the exact size RETR will send.
      const snap = await client.query<Row>(
        `SELECT mm.id::text AS id, mm.message_id::text AS message_id, mm.uidl, octet_length(m.raw) AS size
           FROM mailbox_messages mm JOIN messages m ON m.id = mm.message_id
           JOIN imap_folders f ON f.id = mm.folder_id AND f.name = 'INBOX'
          WHERE mm.mailbox_id = $1
          ORDER BY mm.id`,
        [mailboxId],
      );
      return { ok: true, drop: this.drop(client, mailboxId, snap.rows, () => lost) };
    } catch {
      await client.end().catch(() => {});
      return { ok: false, reason: 'unavailable' };
    }
  }

  private drop(client: pg.Client, mailboxId: string, rows: Row[], lost: () => Error | null): Maildrop {
    const chunkBytes = this.options.chunkBytes;
    let released = false;
    const check = () => {
      const e = lost();
      if (e || released) throw new Pop3Error('maildropLost', undefined, e);
    };
    // First chunks of upcoming messages, read several at a time: clients read a mailbox in
    // order, and one query for the next messages (as many as fit in one chunk's worth of
    // bytes) replaces a round trip per message. Memory per session stays about one chunk.
    const ahead = new Map<number, Promise<Buffer | undefined>>();
    const readAhead = (from: number) => {
      const indexes: number[] = [];
      let budget = chunkBytes;
      for (let i = from; i < rows.length && indexes.length < MAX_READ_AHEAD; i++) {
        const cost = Math.min(rows[i]!.size, chunkBytes);
        if (indexes.length > 0 && cost > budget) break;
        indexes.push(i);
        budget -= cost;
      }
      const batch = client
        .query<{ message_id: string; chunk: Buffer }>('SELECT id::text AS message_id, substring(raw FROM 1 FOR $2) AS chunk FROM messages WHERE id = ANY($1::uuid[])', [
          indexes.map((i) => rows[i]!.message_id),
          chunkBytes,
        ])
        .then((r) => new Map(r.rows.map((x) => [x.message_id, x.chunk])));
      for (const i of indexes) {
        const chunk = batch.then((m) => m.get(rows[i]!.message_id));
        chunk.catch(() => {}); // awaited (and so reported) only if that message is read
        ahead.set(i, chunk);
      }
    };
    const fetchChunk = async (messageId: string, offset: number): Promise<Buffer | undefined> => {
      const r = await client.query<{ chunk: Buffer }>('SELECT substring(raw FROM $2 FOR $3) AS chunk FROM messages WHERE id = $1', [
        messageId,
        offset + 1,
        chunkBytes,
      ]);
      return r.rows[0]?.chunk;
    };
    return {
      messages: rows.map((r) => ({ uidl: uidlFor(r.uidl, r.message_id), size: r.size })),
      async *read(index) {
        const row = rows[index]!;
        // substring() on an uncompressed (STORAGE EXTERNAL) bytea fetches only the TOAST
        // chunks it needs, so memory per session is one chunk whatever the message size.
        // Text result format (hex, decoded natively by pg). Per-query binary format is not
        // an option: pg decodes DataRow fields as UTF-8 unless the whole client is binary.
        check();
        if (!ahead.has(index)) {
          // Out of order (or the first read): what was read ahead is not what the client wants.
          ahead.clear();
          readAhead(index);
        }
        for (const k of ahead.keys()) if (k < index) ahead.delete(k);
        const first = ahead.get(index)!;
        ahead.delete(index);
        // The last one read ahead: ask for the next ones now, so that round trip overlaps
        // this reply's trip to the client.
        if (ahead.size === 0 && index + 1 < rows.length && !released) readAhead(index + 1);
        for (let offset = 0; ; ) {
          check();
          const chunk = offset === 0 ? await first : await fetchChunk(row.message_id, offset);
          if (!chunk) throw new Pop3Error('messageGone');
          if (chunk.length > 0) yield chunk;
          offset += chunk.length;
          if (chunk.length < chunkBytes || offset >= row.size) break;
        }
      },
      async commit(indexes) {
        check();
        // One statement, one transaction: all of the session's deletions or none.
        await client.query('DELETE FROM mailbox_messages WHERE mailbox_id = $1 AND id = ANY($2::bigint[])', [
          mailboxId,
          indexes.map((i) => rows[i]!.id),
        ]);
      },
      async release() {
        if (released) return;
        released = true;
        // Closing the connection drops the session-level advisory lock.
        await client.end().catch(() => {});
      },
    };
  }
}
