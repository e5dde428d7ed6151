// PostgreSQL access of the relay: due work, attempts, per-recipient results. (The DSN
// writer's SQL is adapters/dsn-store.ts.)
import type { Pool } from '@hopmail/db';
import { RelayError } from '../errors.ts';

export interface WorkMessage {
  id: string;
  mailFrom: string;
  receivedAt: Date;
  size: number;
  smtputf8: boolean;
  body8bit: boolean;
  /** BODY=BINARYMIME (RFC 3030): sent as is, with BDAT, or bounced. */
  bodyBinary: boolean;
  /** REQUIRETLS (RFC 8689): only over TLS verified by MTA-STS or DANE (or the operator's verify), else 5.7.30. */
  requireTls: boolean;
  /** The message carries `TLS-Required: No` (RFC 8689 §5). */
  tlsOptional: boolean;
  /** The envelope sender's domain is one of ours (SPF passes for it without SRS). */
  senderIsOurs: boolean;
  /** dkim_key_epoch when the work was read: cached signing keys are good while it holds. */
  dkimEpoch: number;
  /** An attempt at this domain is still 'in-progress' (a relay died mid-session, or a duplicate job runs): claimCrashedAttempts() has something to do. */
  attemptInProgress: boolean;
  /** RET and ENVID (RFC 3461), passed on to a next hop that speaks DSN. */
  dsnRet: 'FULL' | 'HDRS' | null;
  dsnEnvid: string | null;
}

export interface WorkRecipient {
  id: number;
  address: string;
  attempts: number;
  delayWarnedAt: Date | null;
  lastReply: string | null;
  /** Domain of the alias this recipient was expanded from; null for an envelope recipient. */
  viaDomain: string | null;
  /** NOTIFY (an alias target's: its alias's without SUCCESS) and ORCPT (RFC 3461); null when not given. */
  notify: string[] | null;
  orcpt: string | null;
}

export interface RecipientUpdate {
  id: number;
  status: 'delivered' | 'deferred' | 'bounced' | 'failed';
  nextAttemptAt: Date | null;
  reply: string;
  mx: string | null;
  /** Delivered to a next hop that speaks DSN with NOTIFY=SUCCESS: the success report is its duty now. */
  successPassedOn?: boolean;
}

export interface AttemptStart {
  messageId: string;
  domain: string;
  recipients: readonly WorkRecipient[];
  mxHost: string | null;
  ip: string | null;
  port: number | null;
  tls: boolean;
  worker: string;
  at: Date;
}

export type AttemptOutcome = 'delivered' | 'deferred' | 'bounced' | 'mixed' | 'failover' | 'possible-duplicate';

/** One attempt's result: the attempt row (when there is one) and every recipient's new state. */
export interface AttemptResult {
  attemptId: number | null;
  outcome: AttemptOutcome;
  reply: string | null;
  tls: boolean;
  updates: readonly RecipientUpdate[];
  /** The MAIL FROM sent and what authenticated the transaction (trace), when there was one. */
  envelopeFrom?: string | null;
  auth?: object | null;
}

const missing = (messageId: string) => new RelayError('messageMissing', `message ${messageId} no longer exists`);

export class RelayStore {
  private readonly pool: Pool;
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /** The message and its due recipients at `domain`, in one round trip; null when nothing is due. */
  async loadWork(messageId: string, domain: string, now: Date): Promise<{ message: WorkMessage; recipients: WorkRecipient[] } | null> {
    const r = await this.pool.query(
      `SELECT m.id AS message_id, m.mail_from, m.received_at, m.size, m.smtputf8, m.body_8bit, m.body_binary, m.require_tls, m.dsn_ret, m.dsn_envid,
              -- RFC 8689 §5: a TLS-Required: No header field, looked for in the header section only
              convert_from(substring(m.raw from 1 for coalesce(nullif(position(decode('0d0a0d0a', 'hex') in m.raw), 0), 65536)), 'LATIN1')
                ~* '(^|\n)TLS-Required:[ \t]*No[ \t]*\r?(\n|$)' AS tls_optional,
              r.id, r.address, r.attempts, r.delay_warned_at, r.last_reply, lower(o.domain) AS via_domain,
              CASE WHEN r.original_id IS NULL OR r.dsn_notify IS NOT NULL THEN r.dsn_notify ELSE array_remove(o.dsn_notify, 'SUCCESS') END AS notify, coalesce(r.dsn_orcpt, o.dsn_orcpt) AS orcpt,
              -- asked only for alias targets (SRS decision), by the unique index on lower(name)
              CASE WHEN r.original_id IS NOT NULL THEN EXISTS (SELECT 1 FROM domains d WHERE lower(d.name) = lower(substring(m.mail_from from '@([^@]+)$'))) END AS sender_ours,
              (SELECT epoch FROM dkim_key_epoch WHERE id = 1) AS dkim_epoch,
              -- by relay_attempts_in_progress_idx; saves the claiming UPDATE's round trip when there is none
              EXISTS (SELECT 1 FROM relay_attempts a WHERE a.message_id = $1 AND a.domain = lower($2) AND a.outcome = 'in-progress') AS attempt_in_progress
         FROM recipients r JOIN messages m ON m.id = r.message_id LEFT JOIN recipients o ON o.id = r.original_id
        WHERE r.message_id = $1 AND r.domain = lower($2) AND r.status IN ('relay', 'deferred')
          -- To the millisecond, as \`now\` (a JS Date) is: a row made due by now() in the same
          -- millisecond (routing's write, then its job picked up at once) is due, not skipped.
          AND (r.next_attempt_at IS NULL OR date_trunc('milliseconds', r.next_attempt_at) <= $3)
        ORDER BY r.id`,
      [messageId, domain, now],
    );
    const row = r.rows[0];
    if (!row) return null;
    return {
      message: { id: row.message_id, mailFrom: row.mail_from, receivedAt: row.received_at, size: row.size, smtputf8: row.smtputf8, body8bit: row.body_8bit, bodyBinary: row.body_binary === true, requireTls: row.require_tls === true, tlsOptional: row.tls_optional === true, senderIsOurs: r.rows.some((x) => x.sender_ours === true), dkimEpoch: Number(row.dkim_epoch), attemptInProgress: row.attempt_in_progress === true, dsnRet: row.dsn_ret, dsnEnvid: row.dsn_envid },
      recipients: r.rows.map((x) => ({ id: Number(x.id), address: x.address, attempts: x.attempts, delayWarnedAt: x.delay_warned_at, lastReply: x.last_reply, viaDomain: x.via_domain, notify: x.notify, orcpt: x.orcpt })),
    };
  }

  /**
   * Marks attempts left 'in-progress' by a process that died mid-session as possible duplicates
   * and returns them: the remote may have accepted the message before we could record it.
   */
  async claimCrashedAttempts(messageId: string, domain: string): Promise<{ id: number; mx_host: string | null; recipients: string[] }[]> {
    const r = await this.pool.query(
      `UPDATE relay_attempts SET outcome = 'possible-duplicate', finished_at = now()
        WHERE message_id = $1 AND domain = lower($2) AND outcome = 'in-progress'
        RETURNING id, mx_host, recipients`,
      [messageId, domain],
    );
    return r.rows;
  }

  /** The in-progress attempt row and the message bytes, in one round trip (the hot path). */
  async startAttemptWithRaw(a: AttemptStart): Promise<{ attemptId: number; raw: Buffer }> {
    const r = await this.pool.query<{ id: number; raw: Buffer }>(
      `WITH a AS (
         INSERT INTO relay_attempts (message_id, domain, recipient_ids, recipients, started_at, mx_host, ip, port, tls, outcome, worker)
         VALUES ($1, lower($2), $3, $4, $5, $6, $7, $8, $9, 'in-progress', $10) RETURNING id)
       SELECT a.id, m.raw FROM a, messages m WHERE m.id = $1`,
      [a.messageId, a.domain, a.recipients.map((x) => x.id), a.recipients.map((x) => x.address), a.at, a.mxHost, a.ip, a.port, a.tls, a.worker],
    );
    if (!r.rows[0]) throw missing(a.messageId);
    return { attemptId: Number(r.rows[0].id), raw: r.rows[0].raw };
  }

  async startAttempt(a: AttemptStart, outcome: 'in-progress' | AttemptOutcome = 'in-progress', reply: string | null = null): Promise<number> {
    const r = await this.pool.query<{ id: number }>(
      `INSERT INTO relay_attempts (message_id, domain, recipient_ids, recipients, started_at, mx_host, ip, port, tls, outcome, remote_reply, worker, finished_at)
       VALUES ($1, lower($2), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, CASE WHEN $10 = 'in-progress' THEN NULL ELSE now() END)
       RETURNING id`,
      [a.messageId, a.domain, a.recipients.map((x) => x.id), a.recipients.map((x) => x.address), a.at, a.mxHost, a.ip, a.port, a.tls, outcome, reply, a.worker],
    );
    return Number(r.rows[0]!.id);
  }

  /**
   * Records the outcome of one attempt and every recipient's new state in one statement (one
   * round trip, atomic like a transaction, without BEGIN and COMMIT's), right after the
   * remote reply (the at-least-once window). Only rows still waiting for the relay change, so
   * a late duplicate job cannot undo a recorded delivery.
   */
  async record(result: AttemptResult): Promise<void> {
    const { updates } = result;
    await this.pool.query(
      `WITH u AS (
         UPDATE recipients r SET status = u.status, next_attempt_at = u.next, last_reply = u.reply, last_mx = u.mx,
                attempts = r.attempts + 1, updated_at = now(), dsn_success_at = CASE WHEN u.passed THEN now() ELSE r.dsn_success_at END
           FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::bool[]) AS u(id, status, next, reply, mx, passed)
          WHERE r.id = u.id AND r.status IN ('relay', 'deferred')
          RETURNING r.id),
       a AS (
         UPDATE relay_attempts SET outcome = $8::text, remote_reply = $9::text, tls = $10::bool, envelope_from = $11::text, auth = $12::jsonb, finished_at = now()
          WHERE id = $7::bigint
          RETURNING id)
       SELECT (SELECT count(*) FROM u) AS recipients, (SELECT count(*) FROM a) AS attempts`,
      [
        updates.map((u) => u.id), updates.map((u) => u.status), updates.map((u) => u.nextAttemptAt), updates.map((u) => u.reply), updates.map((u) => u.mx), updates.map((u) => u.successPassedOn === true),
        result.attemptId, result.outcome, result.reply, result.tls, result.envelopeFrom ?? null, result.auth ?? null,
      ],
    );
  }

  /** Host at its concurrency or rate limit: try again later without counting an attempt. */
  async postpone(ids: readonly number[], until: Date): Promise<void> {
    await this.pool.query(`UPDATE recipients SET next_attempt_at = $2, updated_at = now() WHERE id = ANY($1::bigint[]) AND status IN ('relay', 'deferred')`, [ids, until]);
  }

  /** (message, domain) pairs with recipients due now, for the scheduler. */
  async due(now: Date, limit: number): Promise<{ message_id: string; domain: string }[]> {
    const r = await this.pool.query(
      `SELECT message_id, domain FROM recipients
        WHERE status IN ('relay', 'deferred') AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
        GROUP BY message_id, domain ORDER BY min(next_attempt_at) NULLS FIRST LIMIT $2`,
      [now, limit],
    );
    return r.rows;
  }

  /** Age in seconds of the oldest due relay work (queue lag). */
  async lagSeconds(now: Date): Promise<number> {
    const r = await this.pool.query<{ lag: number | null }>(
      `SELECT extract(epoch FROM ($1::timestamptz - min(coalesce(next_attempt_at, created_at))))::float8 AS lag
         FROM recipients WHERE status IN ('relay', 'deferred') AND (next_attempt_at IS NULL OR next_attempt_at <= $1)`,
      [now],
    );
    return Math.max(0, r.rows[0]?.lag ?? 0);
  }
}
