// Authentication-Results: (RFC 8601) on the way in: our field goes on top, and any field
// already in the message that claims our authserv-id is a forgery (§5: "MUST delete … any
// instance of this header field that claims … to have been added within its trust boundary")
// and is removed. Pure byte work on the header section; the body is never touched.

/** The Authentication-Results: field (and X-Spam-Flag when quarantined) to put on top. */
export function authResultsFields(header: string, quarantine: boolean): Buffer {
  return Buffer.from(`Authentication-Results: ${header}\r\n${quarantine ? 'X-Spam-Flag: YES\r\n' : ''}`, 'utf8');
}

/** The authserv-id of an Authentication-Results value: the first token, comments and quotes dropped (§2.2). */
export function authservIdOf(value: string): string {
  const v = value.replace(/\([^()]*\)/g, ' ').trim();
  const semi = v.indexOf(';');
  let id = (semi < 0 ? v : v.slice(0, semi)).trim().split(/\s+/)[0] ?? '';
  if (id.startsWith('"') && id.endsWith('"') && id.length >= 2) id = id.slice(1, -1);
  return id.toLowerCase();
}

/**
 * `message` without the Authentication-Results fields of its header section whose
 * authserv-id is ours (case-insensitive); the same buffer when there are none.
 */
export function removeOwnAuthResults(message: Buffer, authservId: string): { message: Buffer; removed: number } {
  const ours = authservId.toLowerCase();
  const text = message.toString('latin1');
  let end = text.indexOf('\r\n\r\n');
  end = end < 0 ? text.length : end + 2;
  // Fast path: most messages carry none.
  if (!/(^|\n)authentication-results[ \t]*:/i.test(text.slice(0, end))) return { message, removed: 0 };
  const keep: Buffer[] = [];
  let removed = 0;
  let pos = 0;
  while (pos < end) {
    // One field: its first line and every continuation line (starting with WSP).
    let next = text.indexOf('\r\n', pos);
    next = next < 0 ? end : next + 2;
    while (next < end && (text[next] === ' ' || text[next] === '\t')) {
      const n = text.indexOf('\r\n', next);
      next = n < 0 ? end : n + 2;
    }
    const field = text.slice(pos, next);
    const m = /^authentication-results[ \t]*:/i.exec(field);
    if (m && authservIdOf(field.slice(m[0].length).replace(/\r\n/g, '')) === ours) removed++;
    else keep.push(message.subarray(pos, next));
    pos = next;
  }
  if (!removed) return { message, removed: 0 };
  keep.push(message.subarray(end));
  return { message: Buffer.concat(keep), removed };
}
