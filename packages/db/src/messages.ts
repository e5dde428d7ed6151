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
  headerMessageId?: string | null;
  /** What inbound authentication found (smtp-ingress, port 25); stored as messages.auth_results. */
  authResults?: unknown;
  /** MAIL FROM … REQUIRETLS (RFC 8689). */
  requireTls?: boolean;
  /** The content filter's verdict (messages.spam), or null when none ran. */
  spam?: unknown;
  /** Commit the recipients as 'held' (an operator releases them), e.g. outgoing spam. */
  held?: boolean;
}

/**
 * The distinct envelope recipients of a message, each with its lower-cased domain: the same
 * address twice collapses into one row, compared as `envelopeKey()` does (domain in any
 * case, local part exactly).
 */
export function distinctRecipients(recipients: readonly string[]): { address: string; domain: string }[] {
  const seen = new Set<string>();
  const out: { address: string; domain: string }[] = [];
  for (const address of recipients) {
    const k = envelopeKey(address);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ address, domain: k.slice(k.lastIndexOf('@') + 1) });
  }
  return out;
}

/**
 * Commits a message and one `queued` row per distinct recipient (`distinctRecipients`) in
 * one statement (one implicit transaction, one round trip): the "250 only after commit"
 * primitive shared by smtp-ingress and by services that inject mail themselves (DSNs).
 */
export async function insertMessage(db: pg.Pool | pg.PoolClient, m: NewMessage): Promise<void> {
  const rcpts = distinctRecipients(m.recipients);
  // A named statement is parsed and planned once per connection: this is the hot path.
  await db.query({
    name: 'hopmail-insert-message',
    text: `WITH m AS (
       INSERT INTO messages (id, raw, size, mail_from, client_ip, client_helo, auth_user, tls, smtputf8, body_8bit, header_message_id, auth_results, require_tls, spam)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $14, $15, $16::jsonb)
       RETURNING id)
     INSERT INTO recipients (message_id, address, domain, status)
     SELECT m.id, r.address, r.domain, CASE WHEN $17::bool THEN 'held' ELSE 'queued' END FROM m, unnest($12::text[], $13::text[]) AS r(address, domain)`,
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
    ],
  });
}
