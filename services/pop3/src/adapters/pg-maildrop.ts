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
import { octetRows, tryAdvisoryLock } from '@hopmail/db';
import pg from 'pg';
import type { Maildrop, OpenOutcome } from '../protocol/backend.ts';
import { maildropLockKey, uidlFor } from '../policy/limits.ts';
import { Pop3Error } from '../errors.ts';

export interface PgMaildropOptions {
  databaseUrl: string;
  /** Bytes per substring() round trip when streaming a message. */
  chunkBytes: number;
  /** Bytes of upcoming messages a session keeps read ahead (whole messages, or first chunks). */
  readAheadBytes: number;
  statementTimeoutMs?: number;
}

interface Row {
  id: string;
  message_id: string;
  uidl: string;
  size: number;
}

/** Most messages one read-ahead query asks for. */
const MAX_READ_AHEAD_MESSAGES = 256;

/** The next messages read ahead, a row each in the order asked (whole, or their first chunk). */
const READ_AHEAD_SQL = `SELECT substring(m.raw FROM 1 FOR $2) AS raw
     FROM unnest($1::uuid[]) WITH ORDINALITY AS u(id, ord)
     LEFT JOIN messages m ON m.id = u.id
    ORDER BY u.ord`;

/** The first batch once a client reads in order; each next one is twice the last, up to half the budget. */
const FIRST_BATCH_BYTES = 65_536;

/** One message of a read-ahead batch. */
interface Ahead {
  /** Settles when the batch's query is back (rejects if it failed). */
  batch: Promise<void>;
  /** Its first chunk (the whole message when it fits) once the batch is back; undefined before, or when the message is gone. */
  chunk?: Buffer;
  /** Octets counted against the read-ahead budget. */
  cost: number;
}

/** The PostgreSQL maildrop; `aheadBytes` shows what its read-ahead holds. */
export interface PgMaildrop extends Maildrop {
  /** Octets read ahead of the client or being read (first chunks of larger messages count a chunk). */
  readonly aheadBytes: number;
}

export class PgMaildropStore {
  private readonly options: PgMaildropOptions;
  constructor(options: PgMaildropOptions) {
    this.options = options;
  }

  async open(mailboxId: string): Promise<{ ok: true; drop: PgMaildrop } | Extract<OpenOutcome, { ok: false }>> {
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

  private drop(client: pg.Client, mailboxId: string, rows: Row[], lost: () => Error | null): PgMaildrop {
    const { chunkBytes, readAheadBytes } = this.options;
    let released = false;
    const check = () => {
      const e = lost();
      if (e || released) throw new Pop3Error('maildropLost', undefined, e);
    };
    // Read-ahead: clients read a mailbox in order, so the next messages (whole when they fit in
    // a chunk, else their first chunk) come in one query, and RETR answers them from memory
    // without a round trip. Batches grow (as the kernel's file read-ahead does) while the
    // client reads in order, up to half the budget each: the next one is asked for (at the end of the turn) once
    // less than half the budget is left ahead of the client, so it is back before the client
    // gets there. A jump (a client reading newest first, TOPs here and there) reads just that
    // message and starts small again, so a client that is not reading in order costs no more
    // than without read-ahead. Entries behind the client are dropped, so memory per session
    // stays within the budget (plus one chunk). Nothing is read ahead except when the client
    // reads: a client that stops reading (the listener awaits every write) stops it.
    const ahead = new Map<number, Ahead>();
    let aheadBytes = 0;
    /** The index after the last one read ahead. */
    let aheadEnd = 0;
    /** The message the client read last, and the size of the last batch. */
    let last = -2;
    let batchBytes = 0;
    const grow = () => (batchBytes = Math.min(readAheadBytes / 2, Math.max(2 * batchBytes, FIRST_BATCH_BYTES)));
    const drop = (i: number) => {
      const a = ahead.get(i);
      if (a) {
        aheadBytes -= a.cost;
        ahead.delete(i);
      }
    };
    /** Reads ahead from `from`: that message, and the next ones that fit in `budget`. */
    const readAhead = (from: number, budget: number) => {
      const indexes: number[] = [];
      for (let i = from; i < rows.length && indexes.length < MAX_READ_AHEAD_MESSAGES; i++) {
        const cost = Math.min(rows[i]!.size, chunkBytes);
        if (indexes.length > 0 && cost > budget) break;
        indexes.push(i);
        budget -= cost;
      }
      aheadEnd = from + indexes.length;
      // A row per message, in binary format (octetRows, @hopmail/db): each chunk a Buffer.
      const entries: Ahead[] = [];
      // Named: prepared once per pooled connection, not planned again for every batch.
      const batch = client
        .query<[Buffer | null]>({
          name: 'hopmail-pop3-read-ahead',
          text: READ_AHEAD_SQL,
          values: [indexes.map((i) => rows[i]!.message_id), chunkBytes],
          ...octetRows,
        })
        .then((r) => {
          for (let k = 0; k < entries.length; k++) entries[k]!.chunk = r.rows[k]?.[0] ?? undefined;
        });
      batch.catch(() => {}); // awaited (and so reported) only if one of its messages is read
      for (const i of indexes) {
        const entry: Ahead = { cost: Math.min(rows[i]!.size, chunkBytes), batch };
        entries.push(entry);
        ahead.set(i, entry);
        aheadBytes += entry.cost;
      }
    };
    /** Less than half the budget is left ahead of the client, and there is more to read. */
    const refillDue = () => {
      const at = ahead.get(last);
      return at !== undefined && aheadBytes - at.cost < readAheadBytes / 2 && aheadEnd < rows.length && !released;
    };
    let refill: NodeJS.Immediate | null = null;
    /** The client is at `index`: drop what is behind it, and keep the budget filled ahead of it. */
    const advance = (index: number) => {
      // In order: the next message, or the same one again (TOP then RETR).
      const inOrder = index === last + 1 || index === last;
      last = index;
      if (!inOrder) batchBytes = 0;
      if (!ahead.has(index)) {
        // Not read ahead (a jump, the first read, or the client outran the batches).
        ahead.clear();
        aheadBytes = 0;
        readAhead(index, inOrder ? grow() : 0);
      }
      // Entries go in in ascending order, so those behind the client come first.
      for (const k of ahead.keys()) {
        if (k >= index) break;
        drop(k);
      }
      if (inOrder && !refill && refillDue()) {
        // The next batch is asked for once this turn is over: its query (and the write that
        // sends it) then comes after the reply to this command, not before it.
        refill = setImmediate(() => {
          refill = null;
          if (refillDue()) readAhead(aheadEnd, grow());
        });
      }
    };
    /** The message when it is in memory whole (the entry of a large one holds its first chunk). */
    const whole = (index: number): Buffer | undefined => {
      const chunk = ahead.get(index)?.chunk;
      return chunk && chunk.length === rows[index]!.size ? chunk : undefined;
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
      get aheadBytes() {
        return aheadBytes;
      },
      readNow(index) {
        if (released || lost()) return undefined;
        advance(index);
        return whole(index);
      },
      peek(index) {
        return released || lost() ? undefined : whole(index);
      },
      async *read(index) {
        const row = rows[index]!;
        // substring() on an uncompressed (STORAGE EXTERNAL) bytea fetches only the TOAST
        // chunks it needs, so memory per session is one chunk whatever the message size.
        // Text result format (hex, decoded natively by pg). Per-query binary format is not
        // an option: pg decodes DataRow fields as UTF-8 unless the whole client is binary.
        check();
        advance(index);
        const first = ahead.get(index)!;
        for (let offset = 0; ; ) {
          check();
          const chunk = offset === 0 ? await first.batch.then(() => first.chunk) : await fetchChunk(row.message_id, offset);
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
        if (refill) clearImmediate(refill);
        // Closing the connection drops the session-level advisory lock.
        await client.end().catch(() => {});
      },
    };
  }
}
