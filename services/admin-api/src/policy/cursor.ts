// Opaque keyset cursors for the list routes. The cursor carries the sort key of the last
// row returned (lower(name|address|source)); the next page starts strictly after it, so
// inserts and deletes between pages never repeat or skip rows that existed throughout.

const VERSION = 1;
const MAX_KEY = 1024;

export function encodeCursor(lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: VERSION, k: lastKey }), 'utf8').toString('base64url');
}

/** The key to continue after, or null when the cursor is not one we issued. */
export function decodeCursor(cursor: string): string | null {
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(cursor)) return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (!v || typeof v !== 'object') return null;
    const { v: version, k } = v as { v?: unknown; k?: unknown };
    if (version !== VERSION || typeof k !== 'string' || k.length === 0 || k.length > MAX_KEY) return null;
    return k;
  } catch {
    return null;
  }
}
