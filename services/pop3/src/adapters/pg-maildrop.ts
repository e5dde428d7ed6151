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
    let prefetched: { index: number; chunk: Promise<Buffer | undefined> } | null = null;
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
        const ahead = prefetched;
        prefetched = null;
        for (let offset = 0; ; ) {
          check();
          const chunk = offset === 0 && ahead?.index === index ? await ahead.chunk : await fetchChunk(row.message_id, offset);
          if (!chunk) throw new Pop3Error('messageGone');
          if (chunk.length > 0) yield chunk;
          offset += chunk.length;
          if (chunk.length < chunkBytes || offset >= row.size) break;
        }
        // Clients read mailboxes in order: start fetching the next message's first chunk
        // now, so its PostgreSQL round trip overlaps this reply's trip to the client.
        // (Not after TOP: a TOP that stops early never gets here.) One chunk at most.
        const next = index + 1;
        if (next < rows.length && !released) {
          const chunk = fetchChunk(rows[next]!.message_id, 0);
          chunk.catch(() => {});
          prefetched = { index: next, chunk };
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
