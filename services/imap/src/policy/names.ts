// Which mailbox names we accept (RFC 9051 §5.1) and LIST pattern matching (§6.3.9).

export const MAX_NAME_CHARS = 500;
export const MAX_LEVELS = 32;

/** Null when the name is acceptable, else the reason. */
export function validateMailboxName(name: string): string | null {
  if (name === '') return 'empty mailbox name';
  if (name.length > MAX_NAME_CHARS) return `mailbox name longer than ${MAX_NAME_CHARS} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]/.test(name)) return 'control characters in mailbox name';
  if (/[*%]/.test(name)) return 'wildcards in mailbox name';
  const levels = name.split('/');
  if (levels.length > MAX_LEVELS) return `more than ${MAX_LEVELS} levels`;
  if (levels.some((l) => l === '')) return 'empty hierarchy level';
  if (levels.some((l) => l === '.' || l === '..')) return '"." and ".." are not mailbox names';
  if (levels.some((l) => l !== l.trim())) return 'leading or trailing spaces in a hierarchy level';
  return null;
}

/** LIST pattern: `*` matches anything, `%` anything but the delimiter (no regex built from input). */
export function matchPattern(pattern: string, name: string): boolean {
  const p = pattern.toUpperCase().startsWith('INBOX') && name.startsWith('INBOX') ? 'INBOX' + pattern.slice(5) : pattern;
  // Iterative wildcard matching with backtracking over the last star: O(len(p) * len(name)).
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (name.length + 1) + j;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    if (i === p.length) r = j === name.length;
    else if (p[i] === '*') r = go(i + 1, j) || (j < name.length && go(i, j + 1));
    else if (p[i] === '%') r = go(i + 1, j) || (j < name.length && name[j] !== '/' && go(i, j + 1));
    else r = j < name.length && p[i] === name[j] && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  if (p.length * (name.length + 1) > 1_000_000) return false;
  return go(0, 0);
}
