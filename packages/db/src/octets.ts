// Message bodies read in bulk (IMAP's FETCH batches, POP3's read-ahead), a row per message:
// node-postgres decodes a row's value faster than one aggregated value of the batch (6 against
// 20 ms for 200 × 4 KiB). Each value comes as LATIN1 text, an octet per character: half the
// bytes of bytea's hex, no decoding into a Buffer, and written to a socket as 'latin1' it is
// the stored octets again. A value holding a NUL (text cannot hold one), or any value from a
// database whose encoding is not UTF8 (the text would not reach us as UTF-8), comes as bytea.

/** A message's octets: a Buffer, or a string holding one octet per character (Node's 'latin1'). */
export type Octets = Buffer | string;

/** The octets as a Buffer (a copy when they came as text). */
export function octetBuffer(o: Octets): Buffer {
  return typeof o === 'string' ? Buffer.from(o, 'latin1') : o;
}

/**
 * A LEFT JOIN LATERAL named `alias` with the columns `text` and `raw`: the bytea that `source`
 * (a SELECT of one column `b`, which may filter it away) gives, as LATIN1 text or, when it
 * cannot be, as bytea. The value is read out of TOAST once, then tested and converted (OFFSET
 * 0 keeps the planner from inlining it into each use, which would read it again for each).
 */
export function octetsJoin(source: string, alias: string): string {
  return `LEFT JOIN LATERAL (
      SELECT CASE WHEN y.latin1 THEN convert_from(y.b, 'LATIN1') END AS text, CASE WHEN NOT y.latin1 THEN y.b END AS raw
        FROM (SELECT s.b, position('\\x00'::bytea IN s.b) = 0 AND current_setting('server_encoding') = 'UTF8' AS latin1
                FROM (SELECT v.b || ''::bytea AS b FROM (${source}) v OFFSET 0) s OFFSET 0) y) ${alias} ON true`;
}

/** The value of an octetsJoin() row; null when the source gave none. */
export function rowOctets(row: { text: string | null; raw: Buffer | null } | undefined): Octets | null {
  return row?.text ?? row?.raw ?? null;
}
