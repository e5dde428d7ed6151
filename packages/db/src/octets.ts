// Message bodies read in bulk (IMAP's FETCH batches, POP3's read-ahead), a row per message:
// node-postgres decodes a row's value faster than one aggregated value of the batch (6 against
// 20 ms for 200 × 4 KiB). The rows come in PostgreSQL's binary format: a bytea is sent as its
// octets, where the text format doubles it into hex. (Before, each body came as LATIN1 text, an
// octet per character; PostgreSQL's conversion of it to UTF-8 and the scan for a NUL cost it
// 29 ms of CPU per 2,000 × 4 KiB, against 20 ms now.)

/**
 * Query options for a result in PostgreSQL's binary format with each row an array: every value
 * a Buffer of the column's octets as sent (a bytea's stored octets, a text column's UTF-8), a
 * view of the bytes received rather than a copy. Needs our pg-protocol patch: unpatched,
 * node-postgres decodes every value as UTF-8 text, binary or not.
 */
export const octetRows = { binary: true, rowMode: 'array', types: { getTypeParser: () => (v: unknown) => v } } as const;
