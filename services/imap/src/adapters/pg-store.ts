// The engine's Store on PostgreSQL (migration 0018). UIDs and MODSEQs come from the folder row
// (the insert trigger for new messages, explicit bumps here for flag changes), so every change
// to a folder is serialized on that one row and clients see them in order.
import type pg from 'pg';
import { octetRows } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import type { Authenticator } from '@hopmail/login';
import type { Changes, FetchRows, Folder, FolderStatus, MessageMeta, Store, StoreMode } from '../protocol/store.ts';
import type { SearchKey } from '../protocol/search.ts';
import { compileSearch } from './search-sql.ts';

interface FolderRow {
  id: string;
  name: string;
  special_use: string | null;
  subscribed: boolean;
  uid_validity: string;
  uid_next: string;
  highest_modseq: string;
}

const FOLDER_COLS = 'id::text AS id, name, special_use, subscribed, uid_validity, uid_next, highest_modseq';

function folder(r: FolderRow): Folder {
  return {
    id: r.id,
    name: r.name,
    specialUse: r.special_use,
    subscribed: r.subscribed,
    uidValidity: Number(r.uid_validity),
    uidNext: Number(r.uid_next),
    highestModseq: Number(r.highest_modseq),
  };
}

interface MetaRow {
  uid: string;
  flags: string[];
  modseq: string;
  size: number;
  added_at: Date;
  message_id: string;
}

function meta(r: MetaRow): MessageMeta {
  return { uid: Number(r.uid), flags: r.flags, modseq: Number(r.modseq), size: r.size, internalDate: r.added_at, messageId: r.message_id };
}


// Taken off message_search_pending and indexed in one statement (hopmail_search_index skips one
// already indexed, so a race with another replica costs nothing).
const INDEX_BATCH_SQL = `WITH batch AS (SELECT message_id FROM message_search_pending LIMIT $1 FOR UPDATE SKIP LOCKED),
  done AS (DELETE FROM message_search_pending p USING batch b WHERE p.message_id = b.message_id RETURNING p.message_id)
  SELECT hopmail_search_index(message_id) FROM done`;

// What every flag change does after its `todo` (id, uid of each message whose flags change;
// $1 the folder), one MODSEQ per statement, taken only when something changes (migration
// 0033): the folder's MODSEQ moves on, the statement's UIDs go to imap_flag_changes, and every
// FLAG_LOG_PRUNE_EVERY MODSEQs the rows more than FLAG_LOG_KEEP behind are deleted, the floor
// raised to say so. The message rows themselves get flags and flags_modseq, no indexed column:
// HOT updates.
const FLAG_LOG_KEEP = 10_000;
const FLAG_LOG_PRUNE_EVERY = 256;
const FLAG_CHANGE = `f AS (
    UPDATE imap_folders SET highest_modseq = highest_modseq + 1,
           flag_log_floor = CASE WHEN (highest_modseq + 1) % ${FLAG_LOG_PRUNE_EVERY} = 0 THEN greatest(flag_log_floor, highest_modseq + 1 - ${FLAG_LOG_KEEP}) ELSE flag_log_floor END
     WHERE id = $1 AND EXISTS (SELECT 1 FROM todo) RETURNING highest_modseq, flag_log_floor
  ), logged AS (
    INSERT INTO imap_flag_changes (folder_id, modseq, uids) SELECT $1, f.highest_modseq, ARRAY(SELECT uid FROM todo ORDER BY uid) FROM f
  ), pruned AS (
    DELETE FROM imap_flag_changes c USING f WHERE f.highest_modseq % ${FLAG_LOG_PRUNE_EVERY} = 0 AND c.folder_id = $1 AND c.modseq <= f.flag_log_floor
  )`;

/** A message's MODSEQ (alias m): when filed, or when its flags last changed. */
const MODSEQ = (m: string) => `greatest(${m}.modseq, ${m}.flags_modseq)`;

// A FETCH batch that sets \Seen does it first, as storeFlags' +FLAGS (\Seen) would (same flag
// order, one new MODSEQ, taken only when something changes), and answers that MODSEQ (no row
// when nothing changed). Apart from the read: a statement that modifies data has PostgreSQL
// copy its whole result (the bodies too) into a store before the first row is sent; a plain
// SELECT streams.
const FETCH_SEEN_SQL = `
  WITH todo AS (
    SELECT m.id, m.uid FROM unnest(string_to_array($2, ',')::bigint[]) AS w(uid)
      JOIN mailbox_messages m ON m.folder_id = $1 AND m.uid = w.uid AND m.uid BETWEEN $3 AND $4
     WHERE NOT m.flags @> ARRAY['\\Seen']
  ), ${FLAG_CHANGE}, upd AS (
    -- (most messages have no flags yet: those skip the sort)
    UPDATE mailbox_messages m SET flags = CASE WHEN m.flags = '{}' THEN ARRAY['\\Seen'] ELSE ARRAY(SELECT DISTINCT x FROM unnest(m.flags || ARRAY['\\Seen']) AS x ORDER BY x) END,
                                  flags_modseq = f.highest_modseq
      FROM todo, f WHERE m.id = todo.id
  )
  SELECT highest_modseq AS modseq FROM f`;

// The batch's metadata and its small bodies, a row per message in binary format (octetRows,
// @hopmail/db). The UID range ($4, $5) lets the planner read the batch by index rather than
// the whole folder. The metadata is one text value (flags are atoms: no spaces):
// node-postgres's row, date and array parsers cost more than the rest. Both statements are
// named (prepared once per connection): planning them anew cost as much as running them.
const FETCH_BATCH_SQL = `
  SELECT concat_ws(' ', mm.uid, ${MODSEQ('mm')}, mm.size, floor(extract(epoch FROM mm.added_at) * 1000)::bigint,
                   mm.message_id, nullif(array_to_string(mm.flags, ' '), '')) AS meta,
         CASE WHEN octet_length(msg.raw) <= $3 THEN msg.raw END AS raw
    FROM unnest(string_to_array($2, ',')::bigint[]) AS w(uid)
    JOIN mailbox_messages mm ON mm.folder_id = $1 AND mm.uid = w.uid AND mm.uid BETWEEN $4 AND $5
    LEFT JOIN messages msg ON $3 > 0 AND msg.id = mm.message_id
   ORDER BY w.uid`;

// The folder f's messages whose MODSEQ is above $2: those filed since (the modseq index), and
// those whose flags changed since, found through imap_flag_changes; or, for a $2 from before
// the log's floor, the whole folder's.
const CHANGED_SINCE = `
  SELECT m.uid, m.flags, ${MODSEQ('m')} AS modseq, m.size, m.added_at, m.message_id FROM mailbox_messages m
   WHERE m.folder_id = f.id AND m.modseq > $2
  UNION
  SELECT m.uid, m.flags, ${MODSEQ('m')}, m.size, m.added_at, m.message_id FROM mailbox_messages m
   WHERE f.flag_log_floor <= $2 AND m.folder_id = f.id AND m.flags_modseq > $2
     AND m.uid IN (SELECT unnest(c.uids) FROM imap_flag_changes c WHERE c.folder_id = f.id AND c.modseq > $2)
  UNION
  SELECT m.uid, m.flags, ${MODSEQ('m')}, m.size, m.added_at, m.message_id FROM mailbox_messages m
   WHERE f.flag_log_floor > $2 AND m.folder_id = f.id AND ${MODSEQ('m')} > $2`;

export interface PgStoreOptions {
  pool: pg.Pool;
  authenticator: Authenticator;
  /** statement_timeout of SEARCH, so a pathological search ends with NO instead of running on. */
  searchTimeoutMs: number;
  /** Bytes per round trip when streaming a message body (FETCH BODY[]). */
  chunkBytes: number;
}

export class PgStore implements Store {
  private readonly pool: pg.Pool;
  private readonly auth: Authenticator;
  private readonly searchTimeoutMs: number;
  private readonly chunkBytes: number;

  constructor(o: PgStoreOptions) {
    this.pool = o.pool;
    this.auth = o.authenticator;
    this.searchTimeoutMs = o.searchTimeoutMs;
    this.chunkBytes = o.chunkBytes;
  }

  authenticate(user: string, password: Buffer, ctx: { remoteIp: string }) {
    return this.auth.authenticate(user, password, ctx);
  }

  async folders(mailboxId: string): Promise<Folder[]> {
    const r = await this.pool.query<FolderRow>(`SELECT ${FOLDER_COLS} FROM imap_folders WHERE mailbox_id = $1 ORDER BY name <> 'INBOX', name`, [mailboxId]);
    return r.rows.map(folder);
  }

  async folder(mailboxId: string, name: string): Promise<Folder | null> {
    const r = await this.pool.query<FolderRow>(`SELECT ${FOLDER_COLS} FROM imap_folders WHERE mailbox_id = $1 AND name = $2`, [mailboxId, name]);
    return r.rows[0] ? folder(r.rows[0]) : null;
  }

  async createFolder(mailboxId: string, name: string): Promise<'ok' | 'exists'> {
    // Superior levels are created too (RFC 9051 §6.3.4 "SHOULD create any superior names").
    const levels = name.split('/');
    const names = levels.map((_, i) => levels.slice(0, i + 1).join('/'));
    const r = await this.pool.query(
      `INSERT INTO imap_folders (mailbox_id, name) SELECT $1, n FROM unnest($2::text[]) AS n ON CONFLICT (mailbox_id, name) DO NOTHING RETURNING name`,
      [mailboxId, names],
    );
    return r.rows.some((x: { name: string }) => x.name === name) ? 'ok' : 'exists';
  }

  async deleteFolder(mailboxId: string, name: string): Promise<'ok' | 'nonexistent'> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const r = await client.query<{ id: string }>('DELETE FROM imap_folders WHERE mailbox_id = $1 AND name = $2 RETURNING id::text AS id', [mailboxId, name]);
      if (r.rows[0]) await client.query('DELETE FROM imap_expunged WHERE folder_id = $1', [r.rows[0].id]);
      await client.query('COMMIT');
      return r.rows[0] ? 'ok' : 'nonexistent';
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  async renameFolder(mailboxId: string, from: string, to: string): Promise<'ok' | 'nonexistent' | 'exists'> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const exists = await client.query('SELECT 1 FROM imap_folders WHERE mailbox_id = $1 AND (name = $2 OR name LIKE $3)', [mailboxId, to, likePrefix(to)]);
      if (exists.rowCount) {
        await client.query('ROLLBACK');
        return 'exists';
      }
      const r = await client.query(
        `UPDATE imap_folders SET name = $3 || substring(name FROM length($2) + 1)
          WHERE mailbox_id = $1 AND (name = $2 OR (name LIKE $4 AND $2 <> 'INBOX'))`,
        [mailboxId, from, to, likePrefix(from)],
      );
      if (!r.rowCount) {
        await client.query('ROLLBACK');
        return 'nonexistent';
      }
      // RFC 9051 §6.3.6: renaming INBOX moves its messages to the new name and leaves an
      // empty INBOX (a new folder row, so a new UIDVALIDITY).
      if (from === 'INBOX') await client.query("INSERT INTO imap_folders (mailbox_id, name) VALUES ($1, 'INBOX')", [mailboxId]);
      await client.query('COMMIT');
      return 'ok';
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  async subscribe(mailboxId: string, name: string, on: boolean): Promise<boolean> {
    const r = await this.pool.query('UPDATE imap_folders SET subscribed = $3 WHERE mailbox_id = $1 AND name = $2', [mailboxId, name, on]);
    return (r.rowCount ?? 0) > 0;
  }

  async status(folderId: string): Promise<FolderStatus> {
    const r = await this.pool.query<{ messages: number; unseen: number; deleted: number; size: string }>(
      `SELECT count(*)::int AS messages,
              count(*) FILTER (WHERE NOT flags @> ARRAY['\\Seen'])::int AS unseen,
              count(*) FILTER (WHERE flags @> ARRAY['\\Deleted'])::int AS deleted,
              coalesce(sum(size), 0)::bigint AS size
         FROM mailbox_messages WHERE folder_id = $1`,
      [folderId],
    );
    const s = r.rows[0]!;
    return { messages: s.messages, unseen: s.unseen, deleted: s.deleted, size: Number(s.size) };
  }

  async uids(folderId: string): Promise<number[]> {
    const r = await this.pool.query<{ uid: string }>('SELECT uid FROM mailbox_messages WHERE folder_id = $1 ORDER BY uid', [folderId]);
    return r.rows.map((x) => Number(x.uid));
  }

  async fetchBatch(folderId: string, uids: number[], opts: { seen: boolean; maxBytes: number }): Promise<FetchRows> {
    if (uids.length === 0) return { modseq: 0, rows: [] };
    // At most FETCH_BATCH (10,000) values: spread as arguments.
    const [lo, hi] = [Math.min(...uids), Math.max(...uids)];
    const list = uids.join(',');
    let modseq = 0;
    if (opts.seen) {
      const s = await this.pool.query<{ modseq: string }>({ name: 'hopmail-imap-fetch-seen', text: FETCH_SEEN_SQL, values: [folderId, list, lo, hi] });
      modseq = Number(s.rows[0]?.modseq ?? 0);
    }
    const r = await this.pool.query<[Buffer, Buffer | null]>({
      name: 'hopmail-imap-fetch',
      text: FETCH_BATCH_SQL,
      values: [folderId, list, opts.maxBytes, lo, hi],
      ...octetRows,
    });
    const rows = r.rows.map(([meta, raw]) => {
      const f = meta.toString().split(' ');
      return { meta: { uid: Number(f[0]), modseq: Number(f[1]), size: Number(f[2]), internalDate: new Date(Number(f[3])), messageId: f[4]!, flags: f.slice(5) }, raw };
    });
    return { modseq, rows };
  }

  /** In-flight changesSince queries shared by the sessions one notification woke (folder, modseq, wake). */
  private readonly wakeQueries = new Map<string, Promise<Changes>>();

  changesSince(folderId: string, modseq: number, wake?: string): Promise<Changes> {
    if (wake === undefined) return this.readChanges(folderId, modseq);
    // 10,000 sessions idling on one mailbox all wake on a delivery: one query, not 10,000.
    const key = `${folderId}:${modseq}:${wake}`;
    let q = this.wakeQueries.get(key);
    if (!q) {
      q = this.readChanges(folderId, modseq).finally(() => this.wakeQueries.delete(key));
      this.wakeQueries.set(key, q);
    }
    return q;
  }

  private async readChanges(folderId: string, modseq: number): Promise<Changes> {
    const r = await this.pool.query<{ highest_modseq: string; uid_next: string; changed: MetaRow[] | null; expunged: string[] | null }>(
      `SELECT f.highest_modseq, f.uid_next,
              (SELECT json_agg(json_build_object('uid', m.uid, 'flags', m.flags, 'modseq', m.modseq, 'size', m.size, 'added_at', m.added_at, 'message_id', m.message_id) ORDER BY m.uid)
                 FROM (${CHANGED_SINCE}) m) AS changed,
              (SELECT array_agg(e.uid ORDER BY e.uid) FROM imap_expunged e WHERE e.folder_id = f.id AND e.modseq > $2) AS expunged
         FROM imap_folders f WHERE f.id = $1`,
      [folderId, modseq],
    );
    const row = r.rows[0];
    if (!row) return { expunged: [], changed: [], highestModseq: modseq, uidNext: 0 };
    return {
      highestModseq: Number(row.highest_modseq),
      uidNext: Number(row.uid_next),
      expunged: (row.expunged ?? []).map(Number),
      changed: (row.changed ?? []).map((m) => meta({ ...m, added_at: new Date(m.added_at) })),
    };
  }

  async raw(messageId: string): Promise<Buffer | null> {
    const r = await this.pool.query<{ raw: Buffer }>('SELECT raw FROM messages WHERE id = $1', [messageId]);
    return r.rows[0]?.raw ?? null;
  }

  async rawStream(messageId: string): Promise<{ size: number; chunks: AsyncIterable<Buffer> } | null> {
    const chunkBytes = this.chunkBytes;
    // substring() of an uncompressed (STORAGE EXTERNAL) bytea reads only the TOAST chunks it needs.
    const first = await this.pool.query<{ size: number; chunk: Buffer }>('SELECT octet_length(raw) AS size, substring(raw FROM 1 FOR $2) AS chunk FROM messages WHERE id = $1', [messageId, chunkBytes]);
    const row = first.rows[0];
    if (!row) return null;
    const pool = this.pool;
    return {
      size: row.size,
      chunks: (async function* () {
        yield row.chunk;
        for (let offset = row.chunk.length; offset < row.size; ) {
          const r = await pool.query<{ chunk: Buffer }>('SELECT substring(raw FROM $2 FOR $3) AS chunk FROM messages WHERE id = $1', [messageId, offset + 1, chunkBytes]);
          const chunk = r.rows[0]?.chunk;
          if (!chunk || chunk.length === 0) throw new Error('message shrank while being read');
          yield chunk;
          offset += chunk.length;
        }
      })(),
    };
  }

  async storeFlags(folderId: string, uids: number[], mode: StoreMode, flags: string[], unchangedSince: number | null) {
    const expr = mode === 'set' ? '$3::text[]' : mode === 'add' ? 'ARRAY(SELECT DISTINCT x FROM unnest(m.flags || $3::text[]) AS x ORDER BY x)' : 'ARRAY(SELECT x FROM unnest(m.flags) AS x WHERE NOT x = ANY($3::text[]))';
    // One MODSEQ for the whole command (RFC 7162 §3.1.1 allows it), taken only when something changes.
    const r = await this.pool.query<MetaRow & { ok: boolean }>(
      `WITH target AS (
         SELECT m.id, m.uid, ${expr} AS nf, ($4::bigint IS NULL OR ${MODSEQ('m')} <= $4) AS ok
           FROM mailbox_messages m WHERE m.folder_id = $1 AND m.uid = ANY($2::bigint[])
       ), todo AS (
         SELECT t.id, t.uid, t.nf FROM target t JOIN mailbox_messages m ON m.id = t.id
          WHERE t.ok AND NOT (m.flags @> t.nf AND t.nf @> m.flags)
       ), ${FLAG_CHANGE}, upd AS (
         UPDATE mailbox_messages m SET flags = todo.nf, flags_modseq = f.highest_modseq FROM todo, f WHERE m.id = todo.id
         RETURNING m.uid, m.flags, ${MODSEQ('m')} AS modseq, m.size, m.added_at, m.message_id::text AS message_id, true AS ok
       )
       SELECT * FROM upd
       UNION ALL
       SELECT m.uid, m.flags, ${MODSEQ('m')}, m.size, m.added_at, m.message_id::text, false FROM target t JOIN mailbox_messages m ON m.id = t.id WHERE NOT t.ok`,
      [folderId, uids, flags, unchangedSince],
    );
    return {
      changed: r.rows.filter((x) => x.ok).map(meta).sort((a, b) => a.uid - b.uid),
      failed: r.rows.filter((x) => !x.ok).map((x) => Number(x.uid)).sort((a, b) => a - b),
    };
  }

  async expunge(folderId: string, uids: number[] | null): Promise<number[]> {
    const r = await this.pool.query<{ uid: string }>(
      uids ? 'DELETE FROM mailbox_messages WHERE folder_id = $1 AND uid = ANY($2::bigint[]) RETURNING uid' : "DELETE FROM mailbox_messages WHERE folder_id = $1 AND flags @> ARRAY['\\Deleted'] RETURNING uid",
      uids ? [folderId, uids] : [folderId],
    );
    return r.rows.map((x) => Number(x.uid)).sort((a, b) => a - b);
  }

  async copy(mailboxId: string, from: string, uids: number[], to: string, move: boolean): Promise<{ src: number[]; dst: number[] }> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Inserted in source UID order, so the new UIDs (ascending, from the trigger) pair up.
      const src = await client.query<{ id: string }>(
        `INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size, folder_id, flags, added_at)
         SELECT m.mailbox_id, m.message_id, CASE WHEN $5 THEN m.uidl ELSE gen_random_uuid()::text END || CASE WHEN $5 THEN '~' ELSE '' END, m.size, $3, m.flags, m.added_at
           FROM mailbox_messages m WHERE m.folder_id = $2 AND m.mailbox_id = $1 AND m.uid = ANY($4::bigint[])
          ORDER BY m.uid
         RETURNING id`,
        [mailboxId, from, to, uids, move],
      );
      // UIDs are numbered after the statement (migration 0018): read them back.
      const dstRows = await client.query<{ uid: string }>('SELECT uid FROM mailbox_messages WHERE id = ANY($1::bigint[]) ORDER BY uid', [src.rows.map((x) => x.id)]);
      const srcUids = [...uids].sort((a, b) => a - b);
      let moved: number[] = srcUids;
      if (move) {
        const del = await client.query<{ uid: string; uidl: string }>('DELETE FROM mailbox_messages WHERE folder_id = $1 AND uid = ANY($2::bigint[]) RETURNING uid, uidl', [from, uids]);
        moved = del.rows.map((x) => Number(x.uid)).sort((a, b) => a - b);
        // A moved message keeps its uidl (routing's idempotency key): put it back now that the
        // original row is gone.
        await client.query("UPDATE mailbox_messages SET uidl = left(uidl, -1) WHERE folder_id = $1 AND uidl LIKE '%~' AND mailbox_id = $2", [to, mailboxId]);
      }
      await client.query('COMMIT');
      const dst = dstRows.rows.map((x) => Number(x.uid));
      return { src: moved.slice(0, dst.length), dst };
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  async append(mailboxId: string, address: string, folderId: string, messages: { raw: Buffer; flags: string[]; date: Date | null }[]): Promise<number[]> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const ids: string[] = [];
      for (const m of messages) {
        const id = newMessageId();
        const r = await client.query<{ id: string }>(
          `WITH m AS (
             INSERT INTO messages (id, raw, size, mail_from, auth_user) VALUES ($1, $2, $3, '', $4) RETURNING id
           )
           INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size, folder_id, flags, added_at)
           SELECT $5, m.id, m.id::text, $3, $6, $7, coalesce($8, now()) FROM m
           RETURNING id`,
          [id, m.raw, m.raw.length, address, mailboxId, folderId, m.flags, m.date],
        );
        ids.push(r.rows[0]!.id);
      }
      // UIDs are numbered after each statement (migration 0018): read them back.
      const u = await client.query<{ uid: string }>('SELECT uid FROM mailbox_messages WHERE id = ANY($1::bigint[]) ORDER BY uid', [ids]);
      await client.query('COMMIT');
      return u.rows.map((x) => Number(x.uid));
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  async search(folderId: string, key: SearchKey): Promise<number[]> {
    const { sql, params, needsIndex } = compileSearch(key, 2);
    // Messages the background indexer has not reached yet (new mail, a burst) are searched too,
    // their search rows computed where they are read: only the folder's pending ones, and only
    // the columns the keys read (migration 0029). A SEARCH writes nothing and waits for no
    // indexing: after 100,000 deliveries at once it used to index them all first, for 90 s.
    const text = needsIndex
      ? `SELECT mm.uid FROM mailbox_messages mm JOIN message_search s ON s.message_id = mm.message_id WHERE mm.folder_id = $1 AND (${sql})
         UNION
         SELECT mm.uid FROM message_search_pending p
           JOIN mailbox_messages mm ON mm.message_id = p.message_id AND mm.folder_id = $1
           CROSS JOIN LATERAL hopmail_search_unindexed(p.message_id) s
          WHERE NOT EXISTS (SELECT 1 FROM message_search x WHERE x.message_id = p.message_id) AND (${sql})
         ORDER BY 1`
      : `SELECT mm.uid FROM mailbox_messages mm WHERE mm.folder_id = $1 AND (${sql}) ORDER BY mm.uid`;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN READ ONLY');
      await client.query(`SET LOCAL statement_timeout = ${Math.floor(this.searchTimeoutMs)}`);
      const r = await client.query<{ uid: string }>(text, [folderId, ...params]);
      await client.query('COMMIT');
      return r.rows.map((x) => Number(x.uid));
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }

  /**
   * Indexes up to `batch` queued messages for SEARCH (migration 0021) and says how many; several
   * imap replicas share the queue (SKIP LOCKED).
   */
  async indexPending(batch: number): Promise<number> {
    const r = await this.pool.query(INDEX_BATCH_SQL, [batch]);
    return r.rowCount ?? 0;
  }

  async headers(folderId: string, uids: number[]) {
    const r = await this.pool.query<{ uid: string; size: number; added_at: Date; header: Buffer }>(
      `SELECT mm.uid, mm.size, mm.added_at,
              substring(msg.raw FOR least(coalesce(nullif(position('\\x0d0a0d0a'::bytea IN substring(msg.raw FOR 65536)), 0), 65536), 65536)) AS header
         FROM mailbox_messages mm JOIN messages msg ON msg.id = mm.message_id
        WHERE mm.folder_id = $1 AND mm.uid = ANY($2::bigint[])`,
      [folderId, uids],
    );
    return r.rows.map((x) => ({ uid: Number(x.uid), size: x.size, internalDate: x.added_at, header: x.header }));
  }

  async quota(mailboxId: string) {
    const r = await this.pool.query<{ used_bytes: string; quota_bytes: string; message_count: number }>('SELECT used_bytes, quota_bytes, message_count FROM mailboxes WHERE id = $1', [mailboxId]);
    const q = r.rows[0];
    return { usedBytes: Number(q?.used_bytes ?? 0), limitBytes: q && Number(q.quota_bytes) > 0 ? Number(q.quota_bytes) : null, messages: q?.message_count ?? 0 };
  }
}

function likePrefix(name: string): string {
  return name.replace(/[\\%_]/g, (m) => `\\${m}`) + '/%';
}
