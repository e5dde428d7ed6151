// sequence-set (RFC 9051 §9): "1:4,7,10:*". Parsed into ranges, never expanded, so
// "1:4294967295" or 100,000 ranges cost what they say and not more.

export type Range = [number, number];

const MAX = 4294967295;

/** Ranges with `*` resolved to `star`; null when malformed or too many ranges. */
export function parseSequenceSet(s: string, star: number, maxRanges = 10_000): Range[] | null {
  if (s === '$') return null; // SEARCHRES is not offered
  const parts = s.split(',');
  if (parts.length > maxRanges) return null;
  const out: Range[] = [];
  for (const p of parts) {
    const m = /^(\d+|\*)(?::(\d+|\*))?$/.exec(p);
    if (!m) return null;
    const a = m[1] === '*' ? star : Number(m[1]);
    const b = m[2] === undefined ? a : m[2] === '*' ? star : Number(m[2]);
    if ((m[1] !== '*' && (a < 1 || a > MAX)) || (m[2] !== undefined && m[2] !== '*' && (b < 1 || b > MAX))) return null;
    out.push(a <= b ? [a, b] : [b, a]);
  }
  return out;
}

export function inRanges(n: number, ranges: Range[]): boolean {
  for (const [a, b] of ranges) if (n >= a && n <= b) return true;
  return false;
}

/**
 * The sequence number of `uid` in a session's view (its UIDs, ascending), 0 when it is not
 * there: a binary search, where a Set or Map of a 100,000-message view cost a SEARCH more than
 * PostgreSQL did.
 */
export function seqOfUid(uids: readonly number[], uid: number): number {
  let lo = 0;
  let hi = uids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const u = uids[mid]!;
    if (u === uid) return mid + 1;
    if (u < uid) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}

/** Compact sequence-set text of sorted numbers: 1,2,3,7 → "1:3,7". */
export function formatSet(nums: number[]): string {
  const sorted = [...nums].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return out.join(',');
}
