// Sends DSNs: inserts each as a new message (null sender, the original envelope sender as its
// recipient) in the same transaction that marks the reported recipients, so each recipient is
// reported exactly once; then asks routing to deliver it like any other mail.
import { randomBytes } from 'node:crypto';
import { insertMessage, type Pool } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import type { Producer } from '@hopmail/queue';
import type { Logger } from 'pino';
import { buildDsn, type DsnRecipient } from '../protocol/dsn.ts';
import { headerSection, toCrlf } from '../protocol/wire.ts';
import { parseReply } from '../policy/classify.ts';
import { willRetryUntil, type RetryPolicy } from '../policy/retry.ts';

export interface DsnDeps {
  pool: Pool;
  routeProducer: Producer<'route-message'>;
  logger: Logger;
  hostname: string;
  policy: RetryPolicy;
  now: () => Date;
  onSent?: (action: 'failed' | 'delayed') => void;
}

interface Row {
  id: number;
  address: string;
  original: string | null;
  last_reply: string | null;
  last_mx: string | null;
  updated_at: Date;
}

/** RFC 3463 status for the DSN: the reply's enhanced code, else one derived from its class. */
export function statusOf(reply: string | null, fallback: string): string {
  const p = reply ? parseReply(reply) : undefined;
  if (p?.enhanced && /^[245]\./.test(p.enhanced)) return p.enhanced;
  if (p) return p.code >= 500 ? '5.0.0' : p.code >= 400 ? '4.0.0' : fallback;
  return fallback;
}

export function createDsnSender(deps: DsnDeps) {
  async function send(messageId: string, action: 'failed' | 'delayed'): Promise<string | null> {
    const client = await deps.pool.connect();
    let dsnId: string | null = null;
    let count = 0;
    try {
      await client.query('BEGIN');
      const m = await client.query<{ mail_from: string; received_at: Date; raw: Buffer }>('SELECT mail_from, received_at, raw FROM messages WHERE id = $1', [messageId]);
      const msg = m.rows[0];
      if (!msg) {
        await client.query('ROLLBACK');
        return null;
      }
      // FOR UPDATE: a concurrent sender (sweeper in another replica) waits here and then no
      // longer sees these rows, because dsn_sent_at / delay_warned_at is set by then.
      const where = action === 'failed' ? `r.status = 'bounced' AND r.dsn_sent_at IS NULL` : `r.status = 'deferred' AND r.delay_warned_at IS NULL`;
      const rs = await client.query<Row>(
        `SELECT r.id, r.address, o.address AS original, r.last_reply, r.last_mx, r.updated_at
           FROM recipients r LEFT JOIN recipients o ON o.id = r.original_id
          WHERE r.message_id = $1 AND ${where} ORDER BY r.id FOR UPDATE OF r`,
        [messageId],
      );
      if (rs.rows.length === 0) {
        await client.query('ROLLBACK');
        return null;
      }
      const ids = rs.rows.map((r) => r.id);
      count = ids.length;
      if (msg.mail_from === '') {
        // RFC 5321 §4.5.5 / RFC 3464 §2: never answer a bounce with a bounce.
        if (action === 'failed') await client.query(`UPDATE recipients SET status = 'failed', dsn_sent_at = now(), updated_at = now() WHERE id = ANY($1::bigint[])`, [ids]);
        else await client.query('UPDATE recipients SET delay_warned_at = now() WHERE id = ANY($1::bigint[])', [ids]);
        await client.query('COMMIT');
        deps.logger.info({ event: 'relay.dsn-suppressed', msgId: messageId, action, recipients: count }, 'null sender: no DSN');
        return null;
      }
      const now = deps.now();
      const recipients: DsnRecipient[] = rs.rows.map((r) => ({
        finalRecipient: r.address,
        originalRecipient: r.original,
        status: statusOf(r.last_reply, action === 'failed' ? '5.0.0' : '4.0.0'),
        remoteMta: r.last_mx,
        diagnostic: r.last_reply,
        lastAttemptDate: r.last_mx ? r.updated_at : null,
      }));
      dsnId = newMessageId();
      const dsn = buildDsn({
        action,
        reportingMta: deps.hostname,
        queueId: messageId,
        arrivalDate: msg.received_at,
        now,
        to: msg.mail_from,
        messageId: `${dsnId}@${deps.hostname}`,
        boundary: `${dsnId}/${randomBytes(9).toString('base64url')}`,
        recipients,
        ...(action === 'delayed' ? { willRetryUntil: willRetryUntil(deps.policy, msg.received_at) } : {}),
        originalHeaders: headerSection(toCrlf(msg.raw)),
      });
      await insertMessage(client, {
        id: dsnId,
        raw: dsn.raw,
        mailFrom: '',
        recipients: [msg.mail_from],
        smtputf8: dsn.smtputf8,
        body8bit: dsn.body8bit,
        headerMessageId: `<${dsnId}@${deps.hostname}>`,
      });
      const col = action === 'failed' ? 'dsn_sent_at' : 'delay_warned_at';
      // Names the DSN in the trace's dsn-sent / delay-warning events (0005_operations.sql).
      await client.query(`SELECT set_config('hopmail.dsn_id', $1, true)`, [dsnId]);
      await client.query(`UPDATE recipients SET ${col} = now() WHERE id = ANY($1::bigint[])`, [ids]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    deps.onSent?.(action);
    deps.logger.info({ event: 'relay.dsn-sent', msgId: messageId, dsnId, action, recipients: count }, `${action} DSN queued`);
    try {
      await deps.routeProducer.add({ messageId: dsnId });
    } catch (err) {
      // The DSN is committed with a queued recipient; routing's reconciler picks it up.
      deps.logger.warn({ event: 'relay.dsn-enqueue-failed', msgId: dsnId, err }, 'could not enqueue route-message for DSN');
    }
    return dsnId;
  }
  return {
    /** One DSN covering every bounced, not yet reported recipient of the message. */
    failures: (messageId: string) => send(messageId, 'failed'),
    /** One "delayed" DSN for deferred recipients not yet warned about. */
    delays: (messageId: string) => send(messageId, 'delayed'),
  };
}

export type DsnSender = ReturnType<typeof createDsnSender>;
