import type pg from 'pg';

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
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/**
 * Commits a message and one `queued` row per distinct recipient in one statement (one
 * implicit transaction, one round trip): the "250 only after commit" primitive shared by
 * smtp-ingress and by services that inject mail themselves (DSNs). Duplicate recipients
 * (same address, any case) collapse into one row.
 */
export async function insertMessage(db: pg.Pool | pg.PoolClient, m: NewMessage): Promise<void> {
  const seen = new Set<string>();
  const rcpts: string[] = [];
  for (const r of m.recipients) {
    const k = r.toLowerCase();
    if (!seen.has(k)) {
      seen.add(k);
      rcpts.push(r);
    }
  }
  // A named statement is parsed and planned once per connection: this is the hot path.
  await db.query({
    name: 'hopmail-insert-message',
    text: `WITH m AS (
       INSERT INTO messages (id, raw, size, mail_from, client_ip, client_helo, auth_user, tls, smtputf8, body_8bit, header_message_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       RETURNING id)
     INSERT INTO recipients (message_id, address, domain)
     SELECT m.id, r.address, r.domain FROM m, unnest($12::text[], $13::text[]) AS r(address, domain)`,
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
      rcpts,
      rcpts.map(domainOf),
    ],
  });
}
