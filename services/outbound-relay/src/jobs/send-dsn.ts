// send-dsn {messageId, reason}: the relay's bounce(8). Reports to the envelope sender every
// recipient of the message owed a `reason` report (bounced and not yet reported, or deferred
// past the warning time and not yet warned), whoever bounced it: the relay's finish(),
// routing, or the scheduler's sweep enqueue it. PostgreSQL decides who is owed (row locks,
// marks in the DSN's own transaction), so a job run twice, or two at once, reports each
// recipient once. The DSN is a new message, handed to routing like any other mail.
import { randomBytes } from 'node:crypto';
import { newMessageId } from '@hopmail/mail';
import { handOff, type Payload, type Producer } from '@hopmail/queue';
import type { Logger } from 'pino';
import type { ComposedDsn, DsnStore, OwedReport, ReportResult } from '../adapters/dsn-store.ts';
import { EVENTS } from '../events.ts';
import type { RelayMetrics } from '../metrics.ts';
import { parseReply } from '../policy/classify.ts';
import { willRetryUntil, type RetryPolicy } from '../policy/retry.ts';
import { wantsReport } from '../policy/notify.ts';
import { buildDsn, type SuccessAction } from '../protocol/dsn.ts';
import { headerSection, toCrlf } from '../protocol/wire.ts';

export interface SendDsnDeps {
  dsnStore: DsnStore;
  /** route-message: the DSN is delivered like any other mail. */
  route: Producer<'route-message'>;
  logger: Logger;
  metrics: RelayMetrics;
  /** Reporting-MTA and the DSN's Message-ID domain. */
  hostname: string;
  policy: RetryPolicy;
  now: () => Date;
  /** RELAY_DSN_RETURN_MAX_BYTES: RET=FULL returns a larger message as its headers only. */
  returnMaxBytes: number;
}

/**
 * RFC 3463 status for one recipient of a DSN: the reply's enhanced code, else one derived
 * from its class. The class follows the DSN's action (RFC 3464 §2.3.4: `failed` carries a
 * 5.x.x status, `delayed` a 4.x.x one): a message that expired after temporary failures
 * ("451 4.4.7 Delivery time expired") is reported failed with 5.4.7, as Postfix does.
 */
/**
 * RFC 3461 §6.2: `expanded` for an alias we expanded, `relayed` for a remote delivery (a hop
 * that spoke DSN took the duty over and no report is owed: the relay marks those), and
 * `delivered` into a mailbox here.
 */
export function successAction(r: { status: string; lastMx: string | null }): SuccessAction {
  return r.status === 'expanded' ? 'expanded' : r.lastMx ? 'relayed' : 'delivered';
}

export function statusOf(reply: string | null, action: 'failed' | 'delayed'): string {
  const cls = action === 'failed' ? '5' : '4';
  const p = reply ? parseReply(reply) : undefined;
  const detail = p?.enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(p.enhanced) ? p.enhanced.slice(2) : '0.0';
  return `${cls}.${detail}`;
}

export function createSendDsn({ dsnStore, route, logger, metrics, hostname, policy, now, returnMaxBytes }: SendDsnDeps) {
  function compose(owed: OwedReport): ComposedDsn | null {
    // RFC 5321 §4.5.5 / RFC 3464 §2: never answer a bounce with a bounce.
    if (owed.mailFrom === '') return null;
    const recipients = owed.recipients.filter((r) => wantsReport(r.notify, owed.reason));
    if (recipients.length === 0) return null;
    const id = newMessageId();
    // RFC 3461 §4.3: RET=FULL returns the message with a failure report; otherwise its
    // headers. Above the cap, the headers only too (a DSN must not carry an arbitrarily
    // large message back), and the text says so.
    const full = owed.reason === 'failed' && owed.ret === 'FULL';
    const returned = full && owed.raw.length <= returnMaxBytes ? toCrlf(owed.raw) : null;
    const dsn = buildDsn({
      action: owed.reason,
      reportingMta: hostname,
      queueId: owed.messageId,
      arrivalDate: owed.receivedAt,
      now: now(),
      to: owed.mailFrom,
      messageId: `${id}@${hostname}`,
      boundary: `${id}/${randomBytes(9).toString('base64url')}`,
      envid: owed.envid,
      originalMessage: returned,
      ...(full && !returned ? { returnLimited: { size: owed.raw.length, limit: returnMaxBytes } } : {}),
      recipients: recipients.map((r) => ({
        finalRecipient: r.address,
        originalRecipient: r.original,
        orcpt: r.orcpt,
        ...(owed.reason === 'success' ? { action: successAction(r) } : {}),
        status: owed.reason === 'success' ? '2.0.0' : statusOf(r.lastReply, owed.reason),
        remoteMta: r.lastMx,
        diagnostic: r.lastReply,
        lastAttemptDate: r.lastMx ? r.updatedAt : null,
      })),
      ...(owed.reason === 'delayed' ? { willRetryUntil: willRetryUntil(policy, owed.receivedAt) } : {}),
      originalHeaders: headerSection(toCrlf(owed.raw)),
    });
    return { id, raw: dsn.raw, smtputf8: dsn.smtputf8, body8bit: dsn.body8bit, headerMessageId: `<${id}@${hostname}>`, reported: recipients.map((r) => r.id) };
  }

  return async function sendDsn({ messageId, reason }: Payload<'send-dsn'>): Promise<ReportResult> {
    const result = await dsnStore.report(messageId, reason, compose);
    if (result.kind === 'suppressed') {
      logger.info({ event: EVENTS.dsnSuppressed, msgId: messageId, action: reason, recipients: result.recipients }, 'null sender: no DSN');
    }
    if (result.kind !== 'sent') return result;
    metrics.dsns.inc({ action: reason });
    logger.info({ event: EVENTS.dsnSent, msgId: messageId, dsnId: result.dsnId, action: reason, recipients: result.recipients }, `${reason} DSN queued`);
    // The DSN is committed with a queued recipient: routing's reconciler picks it up if this fails.
    await handOff(route, [{ messageId: result.dsnId }], { logger, event: EVENTS.dsnEnqueueFailed, fields: { msgId: result.dsnId }, message: 'could not enqueue route-message for DSN' });
    return result;
  };
}

export type SendDsn = ReturnType<typeof createSendDsn>;
