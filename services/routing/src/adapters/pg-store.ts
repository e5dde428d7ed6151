// RoutingStore and ReconcileStore on PostgreSQL (src/store.ts): SQL only, no decisions.
// Routing's pool runs with INDEX_PLANS (@hopmail/db; runService's `postgres: 'index-plans'`):
// each connection plans a statement once, generically, and with only index lookups to choose
// from, so a plan made while the tables were small stays right as they grow. The two
// statements of every batch (loadQueued, write) are named, so they are also parsed and
// planned once per connection: planning them was half of routing's PostgreSQL time. The
// others are unnamed, planned per run under the same settings. docs/ARCHITECTURE.md
// (Performance) says why.
import { withTransaction, type Queryable } from '@hopmail/db';
import { RoutingError } from '../errors.ts';
import type { LockedFacts, LockRequest, MessageWrite, QueuedMessage, ReconcileStore, RelayKey, RoutingStore, RoutingTransaction, Written } from '../store.ts';

const FOREIGN_KEY_VIOLATION = '23503';
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** On a pool (each call takes a connection), or on a client already held (a transaction, the reconciler's lock). */
export class PgRoutingStore implements RoutingStore, ReconcileStore {
  private readonly db: Queryable;

  constructor(db: Queryable) {
    this.db = db;
  }

  /**
   * The plan must not depend on fresh statistics (a new installation, a burst after start:
   * the tables grow faster than autovacuum analyses them). So the recipients are read per
   * message through LATERAL … OFFSET 0 (not flattened into a join, which was planned as a
   * hash join over a scan of every recipient), and with no status condition in SQL (which
   * was combined with the partial index of unfinished recipients, a walk over the whole
   * backlog): every row of the message is read and the `queued` ones are kept here.
   */
  async loadQueued(messageIds: readonly string[]): Promise<(QueuedMessage | null)[]> {
    const r = await this.db.query<{ message_id: string; size: number; mail_from: string; id: number | null; address: string | null; status: string | null }>({
      name: 'hopmail-routing-load',
      text: `SELECT m.id AS message_id, m.size, m.mail_from, r.id, r.address, r.status
         FROM messages m
         LEFT JOIN LATERAL (SELECT id, address, status FROM recipients WHERE message_id = m.id OFFSET 0) r ON true
        WHERE m.id = ANY($1::uuid[])
        ORDER BY m.id, r.id`,
      values: [messageIds],
    });
    const byId = new Map<string, QueuedMessage>();
    for (const row of r.rows) {
      let m = byId.get(row.message_id);
      if (!m) byId.set(row.message_id, (m = { size: row.size, mailFrom: row.mail_from, recipients: [] }));
      if (row.status === 'queued') m.recipients.push({ id: row.id!, address: row.address! });
    }
    return messageIds.map((id) => byId.get(id) ?? null);
  }

  transaction<T>(fn: (tx: RoutingTransaction) => Promise<T>): Promise<T> {
    return withTransaction(this.db, (client) => fn(new PgRoutingStore(client)));
  }

  /**
   * The recipient rows locked FOR UPDATE (in id order), so two jobs for the same message (a
   * redelivered job, a reconciler re-add racing the original) cannot both act: the second
   * waits, then finds nothing queued. The target mailboxes locked FOR KEY SHARE, which tells
   * which still exist and keeps them from being deleted before the insert, and those with a
   * quota FOR NO KEY UPDATE (in id order, after the folders the copies go to), so that no other transaction can fill them
   * meanwhile. Usage comes from the counters kept by mailbox_messages' triggers (migration
   * 0009): O(1) per mailbox, however many messages it holds.
   */
  async lockFacts(requests: readonly LockRequest[]): Promise<LockedFacts> {
    const recipientIds = requests.flatMap((it) => it.recipientIds);
    const mailboxIds = [...new Set(requests.flatMap((it) => it.mailboxIds))];
    // The status is read, not filtered on, in SQL: see loadQueued.
    const rows = await this.db.query<{ id: number; status: string }>({
      text: 'SELECT id, status FROM recipients WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE',
      values: [recipientIds],
    });
    const queued = new Set(rows.rows.filter((r) => r.status === 'queued').map((r) => r.id));
    const boxes = await this.db.query<{ id: number; quota_bytes: number }>({
      text: 'SELECT id, quota_bytes FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR KEY SHARE',
      values: [mailboxIds],
    });
    const mailboxes = new Map(boxes.rows.map((b) => [b.id, { quotaBytes: b.quota_bytes, usedBytes: 0 }]));
    const held = new Map<number, Set<string>>();
    const limited = boxes.rows.filter((b) => b.quota_bytes > 0).map((b) => b.id);
    if (limited.length > 0) {
      // The folders the copies may be filed in (INBOX, \Junk) first, in id order: write()
      // numbers in them, and IMAP's APPEND, COPY and MOVE lock a folder (numbering) before its
      // mailbox (usage). Taking the mailbox row first here could deadlock with them.
      await this.db.query({
        text: `SELECT 1 FROM imap_folders WHERE mailbox_id = ANY($1::bigint[]) AND (name = 'INBOX' OR special_use = '\\Junk') ORDER BY id FOR NO KEY UPDATE`,
        values: [mailboxIds],
      });
      const usage = await this.db.query<{ id: number; used: number }>({
        text: 'SELECT id, used_bytes AS used FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE',
        values: [limited],
      });
      for (const u of usage.rows) mailboxes.get(u.id)!.usedBytes = u.used;
      const isLimited = new Set(limited);
      const pairs = requests.flatMap((it) => it.mailboxIds.filter((id) => isLimited.has(id)).map((id) => [id, it.messageId] as const));
      const has = await this.db.query<{ mailbox_id: number; message_id: string }>({
        text: `SELECT mailbox_id, message_id::text AS message_id FROM mailbox_messages
                WHERE (mailbox_id, message_id) IN (SELECT * FROM unnest($1::bigint[], $2::uuid[]))`,
        values: [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
      });
      for (const h of has.rows) {
        let set = held.get(h.mailbox_id);
        if (!set) held.set(h.mailbox_id, (set = new Set()));
        set.add(h.message_id);
      }
    }
    return { queued, mailboxes, held };
  }

  /**
   * One statement (one implicit transaction outside transaction()). The UPDATE only takes
   * recipients still `queued` (a concurrent job blocks on the row locks, then re-checks the
   * status and finds them taken), and a message's inserts happen only if it took any of
   * that message's recipients; on the fast path the guarded UPDATE is the lock and the
   * mailbox foreign key proves each mailbox still exists. uidl = the message id: unique per
   * mailbox because (mailbox, message) is. A child equal to another recipient of the same
   * message is already that row's business (ON CONFLICT DO NOTHING). The rows are locked in
   * id order, so two batches cannot deadlock on each other's recipients. RETURNING gives
   * each message's new due relay domains and whether it bounced anyone, so no read follows.
   */
  async write(messages: readonly MessageWrite[]): Promise<(Written | null)[]> {
    const up = { id: [] as number[], status: [] as string[], reply: [] as (string | null)[], passOn: [] as boolean[] };
    const mm = { mailbox: [] as number[], message: [] as string[], recipient: [] as number[], size: [] as number[] };
    const ch = { message: [] as string[], address: [] as string[], domain: [] as string[], original: [] as number[], status: [] as string[], reply: [] as (string | null)[], passOn: [] as boolean[] };
    const updates = messages.flatMap((it) => it.decision.updates).sort((a, b) => a.id - b.id);
    // An alias whose only target took its NOTIFY over owes no success report of its own.
    const passedOn = new Set(messages.flatMap((it) => it.decision.children.filter((c) => c.passOn).map((c) => c.originalId)));
    for (const u of updates) {
      up.id.push(u.id);
      up.status.push(u.status);
      up.reply.push(u.reply);
      up.passOn.push(passedOn.has(u.id));
    }
    for (const { messageId, size, decision } of messages) {
      for (const m of decision.mailboxRows) {
        mm.mailbox.push(m.mailboxId);
        mm.message.push(messageId);
        mm.recipient.push(m.recipientId);
        mm.size.push(size);
      }
      for (const c of decision.children) {
        ch.message.push(messageId);
        ch.address.push(c.address);
        ch.domain.push(c.domain);
        ch.original.push(c.originalId);
        ch.status.push(c.status);
        ch.reply.push(c.reply);
        ch.passOn.push(c.passOn === true);
      }
    }
    let r;
    try {
      r = await this.db.query<{ message_id: string; relay_domains: string[]; bounced: boolean; success: boolean }>({
        name: 'hopmail-routing-write',
        text: `WITH up AS (
           UPDATE recipients r
              SET status = u.status, last_reply = u.reply, updated_at = now(),
                  next_attempt_at = CASE WHEN u.status = 'relay' THEN now() ELSE r.next_attempt_at END,
                  dsn_success_at = CASE WHEN u.pass_on THEN now() ELSE r.dsn_success_at END
             FROM unnest($1::bigint[], $2::text[], $3::text[], $14::boolean[]) AS u(id, status, reply, pass_on)
            -- status || '': the guard is checked on each row found by id, never looked up
            -- through an index on status (a plan kept from when the table was small would
            -- otherwise walk every queued recipient).
            WHERE r.id = u.id AND r.status || '' = 'queued'
           RETURNING r.message_id, r.domain, r.status, r.dsn_notify, r.dsn_success_at
         ), copies AS (
           -- Each copy's folder: \\Junk when the spam checks flagged the message, else INBOX
           -- (migration 0027); NULL when the mailbox has no INBOX yet (the trigger makes one).
           SELECT u.mailbox_id, u.message_id, u.recipient_id, u.size, u.ord,
                  coalesce(CASE WHEN hopmail_delivery_junk(m.junk, m.spam, m.raw)
                                THEN (SELECT j.id FROM imap_folders j WHERE j.mailbox_id = u.mailbox_id AND j.special_use = '\\Junk' ORDER BY j.id LIMIT 1) END,
                           (SELECT i.id FROM imap_folders i WHERE i.mailbox_id = u.mailbox_id AND i.name = 'INBOX')) AS folder_id
             FROM unnest($4::bigint[], $5::uuid[], $6::bigint[], $7::integer[]) WITH ORDINALITY AS u(mailbox_id, message_id, recipient_id, size, ord)
             JOIN messages m ON m.id = u.message_id
            WHERE u.message_id IN (SELECT message_id FROM up)
         ), locked AS (
           -- The folders locked in id order before any is numbered, as 0018's trigger does: two
           -- statements filing into the same folders cannot deadlock.
           SELECT count(*) AS n FROM (SELECT id FROM imap_folders WHERE id IN (SELECT folder_id FROM copies) ORDER BY id FOR NO KEY UPDATE) l
         ), numbered AS (
           -- One MODSEQ per folder per statement, and the next UIDs in the copies' order.
           UPDATE imap_folders f SET uid_next = f.uid_next + c.n, highest_modseq = f.highest_modseq + 1
             FROM (SELECT folder_id, count(*) AS n FROM copies WHERE folder_id IS NOT NULL GROUP BY folder_id) c, locked
            WHERE f.id = c.folder_id AND locked.n >= 0
           RETURNING f.id, f.uid_next - c.n AS first_uid, f.highest_modseq
         ), mm AS (
           -- Numbered here, so each copy is written once (migration 0027). A copy that
           -- conflicts (a job run again) leaves its UID unused: a gap, which IMAP allows.
           INSERT INTO mailbox_messages (mailbox_id, message_id, recipient_id, uidl, size, folder_id, uid, modseq)
           SELECT c.mailbox_id, c.message_id, c.recipient_id, c.message_id::text, c.size, c.folder_id,
                  n.first_uid + row_number() OVER (PARTITION BY c.folder_id ORDER BY c.ord) - 1, n.highest_modseq
             FROM copies c LEFT JOIN numbered n ON n.id = c.folder_id
            ORDER BY c.ord
           ON CONFLICT DO NOTHING
         ), ch AS (
           INSERT INTO recipients (message_id, address, domain, original_id, status, last_reply, next_attempt_at, dsn_notify)
           SELECT u.message_id, u.address, u.domain, u.original_id, u.status, u.reply, CASE WHEN u.status = 'relay' THEN now() END,
                  -- RFC 3461 §6.2.7: the only target takes NOTIFY as it is; one of several
                  -- without SUCCESS, NEVER when nothing is left (Postfix does the same).
                  CASE WHEN u.pass_on OR o.dsn_notify IS NULL THEN o.dsn_notify
                       WHEN array_remove(o.dsn_notify, 'SUCCESS') = '{}' THEN '{NEVER}'::text[]
                       ELSE array_remove(o.dsn_notify, 'SUCCESS') END
             FROM unnest($8::uuid[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[], $15::boolean[]) AS u(message_id, address, domain, original_id, status, reply, pass_on)
             JOIN recipients o ON o.id = u.original_id
            WHERE u.message_id IN (SELECT message_id FROM up)
           ON CONFLICT (message_id, lower(domain), (substring(address from '^(.*)@'))) DO NOTHING
           RETURNING message_id, domain, status
         )
         SELECT message_id::text AS message_id,
                coalesce(array_agg(DISTINCT domain ORDER BY domain) FILTER (WHERE status = 'relay'), '{}') AS relay_domains,
                coalesce(bool_or(status = 'bounced'), false) AS bounced,
                coalesce(bool_or(status IN ('delivered', 'expanded') AND 'SUCCESS' = ANY (dsn_notify) AND dsn_success_at IS NULL), false) AS success
           FROM (SELECT message_id, domain, status, dsn_notify, dsn_success_at FROM up UNION ALL SELECT message_id, domain, status, NULL::text[], NULL::timestamptz FROM ch) done
          GROUP BY message_id`,
        values: [up.id, up.status, up.reply, mm.mailbox, mm.message, mm.recipient, mm.size, ch.message, ch.address, ch.domain, ch.original, ch.status, ch.reply, up.passOn, ch.passOn],
      });
    } catch (err) {
      if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) throw new RoutingError('mailboxGone', 'a target mailbox was deleted', err);
      throw err;
    }
    const written = new Map(r.rows.map((row) => [row.message_id, { relayDomains: row.relay_domains, bounced: row.bounced, success: row.success }]));
    return messages.map((it) => written.get(it.messageId) ?? null);
  }

  async dueRelayDomains(messageId: string): Promise<string[]> {
    const r = await this.db.query<{ domain: string }>({
      text: `SELECT DISTINCT domain FROM recipients
              WHERE message_id = $1 AND status = 'relay' AND coalesce(next_attempt_at, now()) <= now()
              ORDER BY domain`,
      values: [messageId],
    });
    return r.rows.map((x) => x.domain);
  }

  async mailboxQuotas(mailboxIds: readonly number[]): Promise<Map<number, number>> {
    const r = await this.db.query<{ id: number; quota_bytes: number }>({ text: 'SELECT id, quota_bytes FROM mailboxes WHERE id = ANY($1::bigint[])', values: [mailboxIds] });
    return new Map(r.rows.map((row) => [row.id, row.quota_bytes]));
  }

  async staleQueuedPage(page: { graceMs: number; after: string | null; limit: number }): Promise<string[]> {
    const r = await this.db.query<{ message_id: string }>({
      text: `SELECT message_id FROM recipients
              WHERE status = 'queued' AND created_at <= now() - make_interval(secs => $1::double precision / 1000)
                AND message_id > $2::uuid
              GROUP BY message_id ORDER BY message_id LIMIT $3`,
      values: [page.graceMs, page.after ?? NIL_UUID, page.limit],
    });
    return r.rows.map((x) => x.message_id);
  }

  async overdueRelayPage(page: { graceMs: number; after: RelayKey | null; limit: number }): Promise<RelayKey[]> {
    const r = await this.db.query<{ message_id: string; domain: string }>({
      text: `SELECT message_id, domain FROM recipients
              WHERE status = 'relay'
                AND coalesce(next_attempt_at, updated_at) <= now() - make_interval(secs => $1::double precision / 1000)
                AND (message_id, domain) > ($2::uuid, $3::text)
              GROUP BY message_id, domain ORDER BY message_id, domain LIMIT $4`,
      values: [page.graceMs, page.after?.messageId ?? NIL_UUID, page.after?.domain ?? '', page.limit],
    });
    return r.rows.map((x) => ({ messageId: x.message_id, domain: x.domain }));
  }
}
