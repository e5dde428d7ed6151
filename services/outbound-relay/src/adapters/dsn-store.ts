// PostgreSQL side of the DSN writer (jobs/send-dsn.ts, Postfix's bounce(8)): which recipients
// of a message are owed a report, and the one transaction that commits the DSN as a new
// message and marks them reported, so each recipient is reported exactly once however many
// send-dsn jobs run for it.
import { insertMessage, rollback, withTransaction, type Pool } from '@hopmail/db';
import type { DsnReason } from '@hopmail/queue';

export interface OwedRecipient {
  id: number;
  address: string;
  /** The address before alias expansion, when it was expanded. */
  original: string | null;
  lastReply: string | null;
  lastMx: string | null;
  updatedAt: Date;
  /** NOTIFY of its RCPT TO, or the one routing gave an alias target (RFC 3461 §6.2.7); null when not given (§4.1). */
  notify: string[] | null;
  /** ORCPT (`addr-type;address`), its own or its alias's. */
  orcpt: string | null;
  /** delivered, expanded (success reports), bounced, deferred. */
  status: string;
}

/** A message and its recipients owed a `reason` report, locked until the transaction ends. */
export interface OwedReport {
  messageId: string;
  reason: DsnReason;
  mailFrom: string;
  receivedAt: Date;
  raw: Buffer;
  /** RET and ENVID of MAIL FROM (RFC 3461 §4.3, §4.4), null when not given. */
  ret: 'FULL' | 'HDRS' | null;
  envid: string | null;
  recipients: OwedRecipient[];
}

/** The DSN to commit: a new message from <> to the original envelope sender. */
export interface ComposedDsn {
  id: string;
  raw: Buffer;
  smtputf8: boolean;
  body8bit: boolean;
  headerMessageId: string;
  /** The owed recipients it reports; the others asked not to be told (NOTIFY) and are only marked. */
  reported: readonly number[];
}

export type ReportResult =
  | { kind: 'nothing' }
  /** Marked reported without a DSN (compose said so: a null sender). */
  | { kind: 'suppressed'; recipients: number }
  | { kind: 'sent'; dsnId: string; recipients: number };

// Which rows are owed a report, and what marks them reported. A failed recipient suppressed
// (null sender, or NOTIFY without FAILURE) also becomes `failed`: there is nobody to tell.
const OWED: Record<DsnReason, { where: string; sent: string; suppressed: string }> = {
  failed: {
    where: `r.status = 'bounced' AND r.dsn_sent_at IS NULL`,
    sent: 'dsn_sent_at = now()',
    suppressed: `status = 'failed', dsn_sent_at = now(), updated_at = now()`,
  },
  delayed: {
    where: `r.status = 'deferred' AND r.delay_warned_at IS NULL`,
    sent: 'delay_warned_at = now()',
    suppressed: 'delay_warned_at = now()',
  },
  // Only rows that asked: a target of a multi-target alias has no SUCCESS (its alias reports
  // "expanded"); the only target of an alias has the alias's NOTIFY, whose duty it took over.
  success: {
    where: `r.status IN ('delivered', 'expanded') AND r.dsn_success_at IS NULL AND 'SUCCESS' = ANY (r.dsn_notify)`,
    sent: 'dsn_success_at = now()',
    suppressed: 'dsn_success_at = now()',
  },
};

interface OwedRow {
  id: number;
  address: string;
  original: string | null;
  last_reply: string | null;
  last_mx: string | null;
  updated_at: Date;
  notify: string[] | null;
  orcpt: string | null;
  status: string;
}

export class DsnStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /**
   * In one transaction: locks the recipients of `messageId` owed a `reason` report, asks
   * `compose` for the DSN (null: report nothing, only mark them), commits it with
   * insertMessage() and marks them. Nothing owed (already reported, message gone): rolls back.
   */
  report(messageId: string, reason: DsnReason, compose: (owed: OwedReport) => ComposedDsn | null): Promise<ReportResult> {
    const owed = OWED[reason];
    return withTransaction<ReportResult>(this.pool, async (client) => {
      const m = await client.query<{ mail_from: string; received_at: Date; raw: Buffer; dsn_ret: 'FULL' | 'HDRS' | null; dsn_envid: string | null }>('SELECT mail_from, received_at, raw, dsn_ret, dsn_envid FROM messages WHERE id = $1', [messageId]);
      const msg = m.rows[0];
      if (!msg) return rollback({ kind: 'nothing' });
      // FOR UPDATE: a concurrent writer (a second copy of the job, another replica) waits
      // here and then no longer sees these rows, because they are marked by then.
      const rs = await client.query<OwedRow>(
        `SELECT r.id, r.address, o.address AS original, r.last_reply, r.last_mx, r.updated_at,
                CASE WHEN r.original_id IS NULL OR r.dsn_notify IS NOT NULL THEN r.dsn_notify ELSE array_remove(o.dsn_notify, 'SUCCESS') END AS notify, coalesce(r.dsn_orcpt, o.dsn_orcpt) AS orcpt, r.status
           FROM recipients r LEFT JOIN recipients o ON o.id = r.original_id
          WHERE r.message_id = $1 AND ${owed.where} ORDER BY r.id FOR UPDATE OF r`,
        [messageId],
      );
      if (rs.rows.length === 0) return rollback({ kind: 'nothing' });
      const ids = rs.rows.map((r) => r.id);
      const dsn = compose({
        messageId,
        reason,
        mailFrom: msg.mail_from,
        receivedAt: msg.received_at,
        raw: msg.raw,
        ret: msg.dsn_ret,
        envid: msg.dsn_envid,
        recipients: rs.rows.map((r) => ({ id: r.id, address: r.address, original: r.original, lastReply: r.last_reply, lastMx: r.last_mx, updatedAt: r.updated_at, notify: r.notify, orcpt: r.orcpt, status: r.status })),
      });
      const reported = new Set(dsn?.reported ?? []);
      const unreported = ids.filter((id) => !reported.has(id));
      if (unreported.length > 0) await client.query(`UPDATE recipients SET ${owed.suppressed} WHERE id = ANY($1::bigint[])`, [unreported]);
      if (!dsn || reported.size === 0) return { kind: 'suppressed', recipients: ids.length };
      await insertMessage(client, { id: dsn.id, raw: dsn.raw, mailFrom: '', recipients: [msg.mail_from], smtputf8: dsn.smtputf8, body8bit: dsn.body8bit, headerMessageId: dsn.headerMessageId });
      // Names the DSN in the trace's dsn-sent / delay-warning events (0005_operations.sql).
      await client.query(`SELECT set_config('hopmail.dsn_id', $1, true)`, [dsn.id]);
      await client.query(`UPDATE recipients SET ${owed.sent} WHERE id = ANY($1::bigint[])`, [[...reported]]);
      return { kind: 'sent', dsnId: dsn.id, recipients: reported.size };
    });
  }

  /** Messages with recipients still owed a success report (NOTIFY=SUCCESS): the scheduler's sweep. */
  async owedSuccesses(limit: number): Promise<string[]> {
    const r = await this.pool.query<{ message_id: string }>(
      `SELECT DISTINCT message_id FROM recipients WHERE dsn_success_at IS NULL AND 'SUCCESS' = ANY (dsn_notify) AND status IN ('delivered', 'expanded') LIMIT $1`,
      [limit],
    );
    return r.rows.map((x) => x.message_id);
  }

  /** Messages with bounced recipients still owed a DSN (routing's and ours): the scheduler's sweep. */
  async owedFailures(limit: number): Promise<string[]> {
    const r = await this.pool.query<{ message_id: string }>(`SELECT DISTINCT message_id FROM recipients WHERE status = 'bounced' AND dsn_sent_at IS NULL LIMIT $1`, [limit]);
    return r.rows.map((x) => x.message_id);
  }
}
