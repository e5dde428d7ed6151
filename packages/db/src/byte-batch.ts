// Several bytea values read in one round trip as one value: a query returns
//   string_agg(coalesce(octet_length(x.v), -1)::text, ',' ORDER BY x.ord) AS lens,
//   encode(string_agg(x.v, ''::bytea ORDER BY x.ord), 'base64') AS data
// — the values concatenated, and each one's length in request order (-1: absent). One decode
// and one buffer, the values views of it. Base64, not bytea's hex text: a third less to send,
// and Node decodes it about twice as fast (skipping the newlines encode() puts in); lengths as
// text, since parsing an int array in JavaScript costs more than the rest of the batch.
// POP3's read-ahead and IMAP's FETCH read message bodies this way.

/** The values of a `lens`/`data` row (null where absent); throws when the lengths do not add up to the data. */
export function splitByteBatch(lens: string | null, data: string | null, count: number): (Buffer | null)[] {
  const bytes = Buffer.from(data ?? '', 'base64');
  const lengths = lens === null ? [] : lens.split(',');
  const out = new Array<Buffer | null>(count).fill(null);
  let off = 0;
  for (let i = 0; i < count; i++) {
    const len = Number(lengths[i]);
    if (!(len >= 0)) continue;
    out[i] = bytes.subarray(off, off + len);
    off += len;
  }
  if (off !== bytes.length) throw new Error('byte batch does not add up');
  return out;
}
