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
  const r = await pool.query<{ size: number; mail_from: string; id: number | null; address: string | null }>(
    `SELECT m.size, m.mail_from, r.id, r.address
       FROM messages m LEFT JOIN recipients r ON r.message_id = m.id AND r.status = 'queued'
      WHERE m.id = $1
      ORDER BY r.id`,
    [messageId],
  );
  if (r.rows.length === 0) return null;
  const first = r.rows[0]!;
  return {
    size: first.size,
    mailFrom: first.mail_from,
    recipients: r.rows.filter((x) => x.id !== null).map((x) => ({ id: x.id!, address: x.address! })),
  };
}

/**
 * Quota state of the limited mailboxes, inside the delivery transaction. They are locked
 * FOR NO KEY UPDATE (in id order) so that two messages for the same mailbox cannot both
 * pass the check; unlimited mailboxes are never serialised.
 */
async function quotaStates(c: PoolClient, limited: { id: number; quota_bytes: number }[], messageId: string, size: number, states: Map<number, MailboxState>): Promise<void> {
  const ids = limited.map((m) => m.id);
  await c.query('SELECT id FROM mailboxes WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE', [ids]);
  const usage = await c.query<{ mailbox_id: number; used: number; has: boolean }>(
    `SELECT mailbox_id, sum(size)::bigint AS used, bool_or(message_id = $2) AS has
       FROM mailbox_messages WHERE mailbox_id = ANY($1::bigint[]) GROUP BY mailbox_id`,
    [ids, messageId],
  );
  const byId = new Map(usage.rows.map((u) => [u.mailbox_id, u]));
  for (const m of limited) {
    const u = byId.get(m.id);
    if (overQuota({ quotaBytes: m.quota_bytes, usedBytes: u?.used ?? 0, alreadyHas: u?.has ?? false }, size)) states.set(m.id, 'full');
  }
}

/**
 * The careful path, taken when a target mailbox has a quota or may have been deleted: one
 * transaction (BEGIN, lock, [quota], write, COMMIT). The recipient rows are locked first (FOR UPDATE) and only those still `queued`
 * are processed, so two jobs for the same message (a redelivered job, a reconciler re-add
 * racing the original) cannot both act: the second waits, then finds nothing queued.
 * The target mailboxes are locked FOR KEY SHARE in the same statement, which tells which
 * still exist and keeps them from being deleted before the insert.
 * Returns null when there was nothing left to do.
 */
export async function commitRouting(pool: Pool, messageId: string, size: number, planned: readonly PlannedRecipient[], nullSender: boolean): Promise<Outcome | null> {
  const mailboxIds = targetMailboxIds(planned);
  return withTransaction(pool, async (c) => {
    const locked = await c.query<{ kind: 'r' | 'm'; id: number; quota_bytes: number | null }>(
      `WITH r AS (SELECT id FROM recipients WHERE message_id = $1 AND status = 'queued' ORDER BY id FOR UPDATE),
            m AS (SELECT id, quota_bytes FROM mailboxes WHERE id = ANY($2::bigint[]) ORDER BY id FOR KEY SHARE)
       SELECT 'r' AS kind, id, NULL::bigint AS quota_bytes FROM r
       UNION ALL SELECT 'm', id, quota_bytes FROM m`,
      [messageId, mailboxIds],
    );
    const still = new Set<number>();
    const states = new Map<number, MailboxState>();
    const limited: { id: number; quota_bytes: number }[] = [];
    for (const row of locked.rows) {
      if (row.kind === 'r') still.add(row.id);
      else {
        states.set(row.id, 'ok');
        if ((row.quota_bytes ?? 0) > 0) limited.push({ id: row.id, quota_bytes: row.quota_bytes! });
      }
    }
    const live = planned.filter((p) => still.has(p.id));
    if (live.length === 0) return null;
    if (limited.length > 0) await quotaStates(c, limited, messageId, size, states);
    const outcome = decide(live, (id) => states.get(id) ?? 'gone', nullSender);

    await writeOutcome(c, messageId, size, outcome);
    return outcome;
  });
}

/**
 * Every write of one message in one statement. The UPDATE only takes recipients still
 * `queued` (a concurrent job blocks on the row locks, then re-checks the status and finds
 * them taken), and the inserts happen only if it took any. uidl = the message id: unique
 * per mailbox because (mailbox, message) is. A child equal to another recipient of the
 * same message is already that row's business (ON CONFLICT DO NOTHING).
 * Returns how many recipients it took.
 */
async function writeOutcome(db: Pool | PoolClient, messageId: string, size: number, outcome: Outcome): Promise<number> {
  const { mailboxRows: mm, children: ch, updates: up } = outcome;
  const r = await db.query<{ taken: number }>(
    `WITH up AS (
       UPDATE recipients r
          SET status = u.status, last_reply = u.reply, updated_at = now(),
              next_attempt_at = CASE WHEN u.status = 'relay' THEN now() ELSE r.next_attempt_at END
         FROM unnest($11::bigint[], $12::text[], $13::text[]) AS u(id, status, reply)
        WHERE r.id = u.id AND r.status = 'queued'
       RETURNING r.id
     ), mm AS (
       INSERT INTO mailbox_messages (mailbox_id, message_id, recipient_id, uidl, size)
       SELECT u.mailbox_id, $1::uuid, u.recipient_id, $2::text, $3::integer
         FROM unnest($4::bigint[], $5::bigint[]) AS u(mailbox_id, recipient_id)
        WHERE EXISTS (SELECT 1 FROM up)
       ON CONFLICT DO NOTHING
     ), ch AS (
       INSERT INTO recipients (message_id, address, domain, original_id, status, last_reply, next_attempt_at)
       SELECT $1::uuid, u.address, u.domain, u.original_id, u.status, u.reply, CASE WHEN u.status = 'relay' THEN now() END
         FROM unnest($6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[]) AS u(address, domain, original_id, status, reply)
        WHERE EXISTS (SELECT 1 FROM up)
       ON CONFLICT (message_id, lower(address)) DO NOTHING
     )
     SELECT count(*)::int AS taken FROM up`,
    [
      messageId,
      messageId,
      size,
      mm.map((m) => m.mailboxId),
      mm.map((m) => m.recipientId),
      ch.map((x) => x.address),
      ch.map((x) => x.domain),
      ch.map((x) => x.originalId),
      ch.map((x) => x.status),
      ch.map((x) => x.reply),
      up.map((u) => u.id),
      up.map((u) => u.status),
      up.map((u) => u.reply),
    ],
  );
  return r.rows[0]!.taken;
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
export async function commitFast(pool: Pool, messageId: string, size: number, planned: readonly PlannedRecipient[], nullSender: boolean): Promise<Outcome | null | 'conflict'> {
  const outcome = decide(planned, () => 'ok', nullSender);
  try {
    const taken = await writeOutcome(pool, messageId, size, outcome);
    return taken > 0 ? outcome : null;
  } catch (err) {
    if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) return 'conflict';
    throw err;
  }
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
