import type pg from 'pg';
import { envelopeKey } from '@hopmail/mail';

export interface NewMessage {
  /** UUIDv7 from newMessageId(). */
  id: string;
  /** Exactly the bytes to store (Received: header included), CRLF line ends. */
  raw: Buffer;
  /** Envelope sender; '' is the null sender <>. */
  mailFrom: string;
  recipients: readonly string[];
  clientIp?: string | null;
  clientHelo?: string | null;
  authUser?: string | null;
  tls?: boolean;
  smtputf8?: boolean;
  body8bit?: boolean;
  /** BODY=BINARYMIME (RFC 3030): binary octets, relayed only as such. */
  bodyBinary?: boolean;
  headerMessageId?: string | null;
  /** What inbound authentication found (smtp-ingress, port 25); stored as messages.auth_results. */
  authResults?: unknown;
  /** MAIL FROM … REQUIRETLS (RFC 8689). */
  requireTls?: boolean;
  /** The content filter's verdict (messages.spam), or null when none ran. */
  spam?: unknown;
  /**
   * The spam checks flagged it (messages.junk): routing's delivery files it in \Junk. Unset:
   * the delivery trigger reads the stored message to decide (migration 0025).
   */
  junk?: boolean | null;
  /** Commit the recipients as 'held' (an operator releases them), e.g. outgoing spam. */
  held?: boolean;
  /** MAIL FROM … RET= and ENVID= (RFC 3461 §4.3, §4.4; ENVID decoded). */
  dsnRet?: 'FULL' | 'HDRS' | null;
  dsnEnvid?: string | null;
  /** RCPT TO … NOTIFY= and ORCPT= of `recipients[i]`, when it gave any (RFC 3461 §4.1, §4.2). */
  recipientDsn?: readonly (RecipientDsn | null | undefined)[];
}

export interface RecipientDsn {
  /** NOTIFY's values, upper case; ['NEVER'] for NEVER; null when not given. */
  notify: readonly string[] | null;
  /** ORCPT as `addr-type;address`, decoded; null when not given. */
  orcpt: string | null;
}

/**
 * The distinct envelope recipients of a message, each with its lower-cased domain: the same
 * address twice collapses into one row, compared as `envelopeKey()` does (domain in any
 * case, local part exactly).
 */
export function distinctRecipients(recipients: readonly string[]): { address: string; domain: string; index: number }[] {
  const seen = new Set<string>();
  const out: { address: string; domain: string; index: number }[] = [];
  recipients.forEach((address, index) => {
    const k = envelopeKey(address);
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ address, domain: k.slice(k.lastIndexOf('@') + 1), index });
  });
  return out;
}

/** NOTIFY as stored (recipients.dsn_notify, a text[] literal) and ORCPT of each distinct recipient. */
export function recipientDsnColumns(m: NewMessage, rcpts: readonly { index: number }[]): { notify: (string | null)[]; orcpt: (string | null)[] } {
  const of = (i: number) => m.recipientDsn?.[i] ?? null;
  return {
    // An array of arrays would have to be rectangular: each NOTIFY travels as its array literal.
    notify: rcpts.map((r) => {
      const n = of(r.index)?.notify;
      return n ? `{${n.join(',')}}` : null;
    }),
    orcpt: rcpts.map((r) => of(r.index)?.orcpt ?? null),
  };
}

/**
 * Commits a message and one `queued` row per distinct recipient (`distinctRecipients`) in
 * one statement (one implicit transaction, one round trip): the "250 only after commit"
 * primitive shared by smtp-ingress and by services that inject mail themselves (DSNs).
 */
export async function insertMessage(db: pg.Pool | pg.PoolClient, m: NewMessage): Promise<void> {
  const rcpts = distinctRecipients(m.recipients);
  const dsn = recipientDsnColumns(m, rcpts);
  // A named statement is parsed and planned once per connection: this is the hot path.
  await db.query({
    name: 'hopmail-insert-message',
    text: `WITH m AS (
       INSERT INTO messages (id, raw, size, mail_from, client_ip, client_helo, auth_user, tls, smtputf8, body_8bit, header_message_id, auth_results, require_tls, spam, dsn_ret, dsn_envid, body_binary, junk)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $14, $15, $16::jsonb, $18, $19, $22, $23)
       RETURNING id)
     INSERT INTO recipients (message_id, address, domain, status, dsn_notify, dsn_orcpt)
     SELECT m.id, r.address, r.domain, CASE WHEN $17::bool THEN 'held' ELSE 'queued' END, r.notify::text[], r.orcpt
       FROM m, unnest($12::text[], $13::text[], $20::text[], $21::text[]) AS r(address, domain, notify, orcpt)`,
    values: [
      m.id,
      m.raw,
      m.raw.length,
      m.mailFrom,
      m.clientIp ?? null,
      m.clientHelo ?? null,
      m.authUser ?? null,
      m.tls ?? false,
      m.smtputf8 ?? false,
      m.body8bit ?? false,
      m.headerMessageId ?? null,
      rcpts.map((r) => r.address),
      rcpts.map((r) => r.domain),
      m.authResults === undefined || m.authResults === null ? null : JSON.stringify(m.authResults),
      m.requireTls ?? false,
      m.spam == null ? null : JSON.stringify(m.spam),
      m.held ?? false,
      m.dsnRet ?? null,
      m.dsnEnvid ?? null,
      dsn.notify,
      dsn.orcpt,
      m.bodyBinary ?? false,
      m.junk ?? null,
    ],
  });
}
