// PostgreSQL side of routing: read what is still queued, and commit one message's routing
// decisions in one transaction (mailbox copies, new relay/bounce rows, statuses): one
// statement on the fast path, BEGIN … COMMIT with row locks when quotas must be checked.
import { withTransaction, type Pool, type PoolClient } from '@hopmail/db';
import { decide, overQuota, targetMailboxIds, type MailboxState, type Outcome, type PlannedRecipient } from '../policy/route-policy.ts';

export interface QueuedMessage {
  size: number;
  /** '' is the null sender. */
  mailFrom: string;
  recipients: { id: number; address: string }[];
}

/** The message and its recipients still `queued`; null when the message does not exist. */
export async function loadQueued(pool: Pool, messageId: string): Promise<QueuedMessage | null> {
  return (await loadQueuedMany(pool, [messageId]))[0]!;
}

/**
 * loadQueued for several messages in one round trip; results in the order of `messageIds`.
 * The plan must not depend on fresh statistics (a new installation, a burst after start:
 * the tables grow faster than autovacuum analyses them). So the statement is not prepared
 * (a named statement settles on a generic plan after five runs, made for the table sizes
 * of that moment — a sequential scan of `messages` while it was small — and keeps it for
 * the life of the connection; unnamed, it is planned for each run), and the recipients are read per
 * message through LATERAL … OFFSET 0 (not flattened into a join, which was planned as a
 * hash join over a scan of every recipient), and with no status condition in SQL (which
 * was combined with the partial index of unfinished recipients, a walk over the whole
 * backlog): every row of the message is read and the `queued` ones are kept here.
 */
export async function loadQueuedMany(pool: Pool, messageIds: readonly string[]): Promise<(QueuedMessage | null)[]> {
  const r = await pool.query<{ message_id: string; size: number; mail_from: string; id: number | null; address: string | null; status: string | null }>({
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

/**
 * The careful path, taken when a target mailbox has a quota or may have been deleted. Several
 * messages go through one transaction (the jobs in flight share it, as on the fast path):
 * BEGIN; the recipient rows locked FOR UPDATE (in id order), and only those still `queued`
 * processed, so two jobs for the same message (a redelivered job, a reconciler re-add racing
 * the original) cannot both act: the second waits, then finds nothing queued; the target
 * mailboxes locked FOR KEY SHARE, which tells which still exist and keeps them from being
 * deleted before the insert, and those with a quota FOR NO KEY UPDATE (in id order), so
 * that no other transaction can fill them meanwhile; then the messages are decided in order,
 * each one's copies counted against the quota before the next, and all written in one
 * statement; COMMIT. Usage comes from the counters kept by mailbox_messages' triggers
 * (migration 0009): O(1) per mailbox, however many messages it holds.
 * Returns, per message, null when there was nothing left to do.
 */
export async function commitRoutingMany(pool: Pool, items: readonly FastCommit[]): Promise<(Outcome | null)[]> {
  const recipientIds = items.flatMap((it) => it.planned.map((p) => p.id));
  const mailboxIds = [...new Set(items.flatMap((it) => targetMailboxIds(it.planned)))];
  return withTransaction(pool, async (c) => {
    // The status is read, not filtered on, in SQL: see loadQueuedMany.
    const rows = await c.query<{ id: number; status: string }>('SELECT id, status FROM recipients WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE', [recipientIds]);
    const still = new Set(rows.rows.filter((r) => r.status === 'queued').map((r) => r.id));
    const boxes = await c.query<{ id: number; quota_bytes: number }>('SELECT id, quota_bytes FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR KEY SHARE', [mailboxIds]);
    const exists = new Set(boxes.rows.map((b) => b.id));
    const quota = new Map(boxes.rows.filter((b) => b.quota_bytes > 0).map((b) => [b.id, b.quota_bytes]));
    const used = new Map<number, number>();
    const has = new Set<string>();
    if (quota.size > 0) {
      const limited = [...quota.keys()];
      const usage = await c.query<{ id: number; used: number }>('SELECT id, used_bytes AS used FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE', [limited]);
      for (const u of usage.rows) used.set(u.id, u.used);
      const pairs = items.flatMap((it) => targetMailboxIds(it.planned).filter((id) => quota.has(id)).map((id) => [id, it.messageId] as const));
      const held = await c.query<{ mailbox_id: number; message_id: string }>(
        `SELECT mailbox_id, message_id::text AS message_id FROM mailbox_messages
          WHERE (mailbox_id, message_id) IN (SELECT * FROM unnest($1::bigint[], $2::uuid[]))`,
        [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
      );
      for (const h of held.rows) has.add(`${h.mailbox_id} ${h.message_id}`);
    }

    const results: (Outcome | null)[] = [];
    const writes: MessageOutcome[] = [];
    for (const it of items) {
      const live = it.planned.filter((p) => still.has(p.id));
      if (live.length === 0) {
        results.push(null);
        continue;
      }
      const alreadyHas = (id: number) => has.has(`${id} ${it.messageId}`);
      const state = (id: number): MailboxState => {
        if (!exists.has(id)) return 'gone';
        const q = quota.get(id);
        if (q === undefined) return 'ok';
        return overQuota({ quotaBytes: q, usedBytes: used.get(id) ?? 0, alreadyHas: alreadyHas(id) }, it.size) ? 'full' : 'ok';
      };
      const outcome = decide(live, state, it.nullSender);
      // The next message in this transaction sees this one's copies.
      for (const row of outcome.mailboxRows) if (quota.has(row.mailboxId) && !alreadyHas(row.mailboxId)) used.set(row.mailboxId, (used.get(row.mailboxId) ?? 0) + it.size);
      results.push(outcome);
      writes.push({ messageId: it.messageId, size: it.size, outcome });
    }
    if (writes.length > 0) await writeOutcomes(c, writes);
    return results;
  });
}

/** commitRoutingMany for one message. */
export async function commitRouting(pool: Pool, item: FastCommit): Promise<Outcome | null> {
  return (await commitRoutingMany(pool, [item]))[0]!;
}

/** One message's routing decisions, as writeOutcomes takes them. */
export interface MessageOutcome {
  messageId: string;
  size: number;
  outcome: Outcome;
}

/**
 * Every write of one or more messages in one statement (one implicit transaction). The
 * UPDATE only takes recipients still `queued` (a concurrent job blocks on the row locks,
 * then re-checks the status and finds them taken), and a message's inserts happen only if
 * it took any of that message's recipients. uidl = the message id: unique per mailbox
 * because (mailbox, message) is. A child equal to another recipient of the same message is
 * already that row's business (ON CONFLICT DO NOTHING). The rows are locked in id order, so
 * two batches cannot deadlock on each other's recipients. Not prepared, like
 * loadQueuedMany: the UPDATE's join must be planned for the table's current size.
 * Returns how many recipients it took, per message, in the order given.
 */
async function writeOutcomes(db: Pool | PoolClient, items: readonly MessageOutcome[]): Promise<number[]> {
  const up = { id: [] as number[], status: [] as string[], reply: [] as (string | null)[] };
  const mm = { mailbox: [] as number[], message: [] as string[], recipient: [] as number[], size: [] as number[] };
  const ch = { message: [] as string[], address: [] as string[], domain: [] as string[], original: [] as number[], status: [] as string[], reply: [] as (string | null)[] };
  const updates = items.flatMap((it) => it.outcome.updates).sort((a, b) => a.id - b.id);
  for (const u of updates) {
    up.id.push(u.id);
    up.status.push(u.status);
    up.reply.push(u.reply);
  }
  for (const { messageId, size, outcome } of items) {
    for (const m of outcome.mailboxRows) {
      mm.mailbox.push(m.mailboxId);
      mm.message.push(messageId);
      mm.recipient.push(m.recipientId);
      mm.size.push(size);
    }
    for (const c of outcome.children) {
      ch.message.push(messageId);
      ch.address.push(c.address);
      ch.domain.push(c.domain);
      ch.original.push(c.originalId);
      ch.status.push(c.status);
      ch.reply.push(c.reply);
    }
  }
  const r = await db.query<{ message_id: string; taken: number }>({
    text: `WITH up AS (
       UPDATE recipients r
          SET status = u.status, last_reply = u.reply, updated_at = now(),
              next_attempt_at = CASE WHEN u.status = 'relay' THEN now() ELSE r.next_attempt_at END
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, status, reply)
        WHERE r.id = u.id AND r.status = 'queued'
       RETURNING r.id, r.message_id
     ), mm AS (
       INSERT INTO mailbox_messages (mailbox_id, message_id, recipient_id, uidl, size)
       SELECT u.mailbox_id, u.message_id, u.recipient_id, u.message_id::text, u.size
         FROM unnest($4::bigint[], $5::uuid[], $6::bigint[], $7::integer[]) AS u(mailbox_id, message_id, recipient_id, size)
        WHERE u.message_id IN (SELECT message_id FROM up)
       ON CONFLICT DO NOTHING
     ), ch AS (
       INSERT INTO recipients (message_id, address, domain, original_id, status, last_reply, next_attempt_at)
       SELECT u.message_id, u.address, u.domain, u.original_id, u.status, u.reply, CASE WHEN u.status = 'relay' THEN now() END
         FROM unnest($8::uuid[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[]) AS u(message_id, address, domain, original_id, status, reply)
        WHERE u.message_id IN (SELECT message_id FROM up)
       ON CONFLICT (message_id, lower(domain), (substring(address from '^(.*)@'))) DO NOTHING
     )
     SELECT message_id::text AS message_id, count(*)::int AS taken FROM up GROUP BY message_id`,
    values: [up.id, up.status, up.reply, mm.mailbox, mm.message, mm.recipient, mm.size, ch.message, ch.address, ch.domain, ch.original, ch.status, ch.reply],
  });
  const taken = new Map(r.rows.map((row) => [row.message_id, row.taken]));
  return items.map((it) => taken.get(it.messageId) ?? 0);
}

const FOREIGN_KEY_VIOLATION = '23503';

/**
 * The fast path, for the common case where every target mailbox is known to have no quota:
 * the whole message in one statement (one implicit transaction, one round trip) instead of
 * BEGIN / lock / write / COMMIT. Same guarantees: the guarded UPDATE is the lock, the
 * foreign key proves each mailbox still exists. Returns 'conflict' when a mailbox was
 * deleted meanwhile (nothing was written; use commitRouting, which bounces it), null when
 * another job had already taken the recipients.
 */
export async function commitFast(pool: Pool, item: FastCommit): Promise<Outcome | null | 'conflict'> {
  try {
    return (await commitFastMany(pool, [item]))[0]!;
  } catch (err) {
    if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) return 'conflict';
    throw err;
  }
}

export interface FastCommit {
  messageId: string;
  size: number;
  planned: readonly PlannedRecipient[];
  nullSender: boolean;
}

/**
 * commitFast for several messages in one statement. Any error fails all of them (a deleted
 * mailbox's foreign-key violation included): the caller runs them again one by one.
 */
export async function commitFastMany(pool: Pool, items: readonly FastCommit[]): Promise<(Outcome | null)[]> {
  const outcomes = items.map((it) => ({ messageId: it.messageId, size: it.size, outcome: decide(it.planned, () => 'ok', it.nullSender) }));
  const taken = await writeOutcomes(pool, outcomes);
  return outcomes.map((o, i) => (taken[i]! > 0 ? o.outcome : null));
}

/**
 * Mailbox quotas, cached like the directory (`cacheMs`): deciding the fast path must not
 * cost a round trip. A quota set on a mailbox takes effect after at most `cacheMs`.
 */
export class QuotaCache {
  private readonly cache = new Map<number, { at: number; quota: number }>();
  private readonly pool: Pool;
  private readonly cacheMs: number;

  constructor(pool: Pool, cacheMs: number) {
    this.pool = pool;
    this.cacheMs = cacheMs;
  }

  /** True when every mailbox exists (as far as the cache knows) and has no quota. */
  async allUnlimited(ids: readonly number[]): Promise<boolean> {
    const now = Date.now();
    const missing = ids.filter((id) => {
      const hit = this.cache.get(id);
      return !hit || now - hit.at >= this.cacheMs;
    });
    if (missing.length > 0) {
      const r = await this.pool.query<{ id: number; quota_bytes: number }>('SELECT id, quota_bytes FROM mailboxes WHERE id = ANY($1::bigint[])', [missing]);
      if (r.rows.length < missing.length) return false; // a mailbox is gone: the careful path bounces it
      if (this.cache.size > 10_000) this.cache.clear();
      for (const row of r.rows) this.cache.set(row.id, { at: now, quota: row.quota_bytes });
    }
    return ids.every((id) => (this.cache.get(id)?.quota ?? 1) === 0);
  }
}

/** Destination domains of this message's `relay` rows that are due now. */
export async function dueRelayDomains(pool: Pool, messageId: string): Promise<string[]> {
  const r = await pool.query<{ domain: string }>(
    `SELECT DISTINCT domain FROM recipients
      WHERE message_id = $1 AND status = 'relay' AND coalesce(next_attempt_at, now()) <= now()
      ORDER BY domain`,
    [messageId],
  );
  return r.rows.map((x) => x.domain);
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * Messages with recipients still `queued` for longer than `graceMs`, one keyset page at a
 * time (ordered by message id) so a large backlog never sits in memory at once.
 */
export async function staleQueuedPage(db: Pool | PoolClient, graceMs: number, after: string | null, limit: number): Promise<string[]> {
  const r = await db.query<{ message_id: string }>(
    `SELECT message_id FROM recipients
      WHERE status = 'queued' AND created_at <= now() - make_interval(secs => $1::double precision / 1000)
        AND message_id > $2::uuid
      GROUP BY message_id ORDER BY message_id LIMIT $3`,
    [graceMs, after ?? NIL_UUID, limit],
  );
  return r.rows.map((x) => x.message_id);
}

/** (message, domain) pairs with `relay` rows overdue by more than `graceMs`, keyset-paged. */
export async function overdueRelayPage(
  db: Pool | PoolClient,
  graceMs: number,
  after: { messageId: string; domain: string } | null,
  limit: number,
): Promise<{ messageId: string; domain: string }[]> {
  const r = await db.query<{ message_id: string; domain: string }>(
    `SELECT message_id, domain FROM recipients
      WHERE status = 'relay'
        AND coalesce(next_attempt_at, updated_at) <= now() - make_interval(secs => $1::double precision / 1000)
        AND (message_id, domain) > ($2::uuid, $3::text)
      GROUP BY message_id, domain ORDER BY message_id, domain LIMIT $4`,
    [graceMs, after?.messageId ?? NIL_UUID, after?.domain ?? '', limit],
  );
  return r.rows.map((x) => ({ messageId: x.message_id, domain: x.domain }));
}
