// The console's page addresses (pure): matching, and the page to return to after sign-in.

export type Params = Record<string, string>;

/** '/domains/:name' against '/domains/example.org' → { name: 'example.org' }; null when it does not match. */
export function matchRoute(pattern: string, path: string): Params | null {
  const a = pattern.split('/').filter(Boolean);
  const b = path.split('/').filter(Boolean);
  if (a.length !== b.length) return null;
  const out: Params = {};
  for (let i = 0; i < a.length; i++) {
    const p = a[i]!;
    const v = b[i]!;
    if (p.startsWith(':')) {
      try {
        out[p.slice(1)] = decodeURIComponent(v);
      } catch {
        return null;
      }
    } else if (p !== v) return null;
  }
  return out;
}

/** Where sign-in may send the browser back to: a path on this origin only (never '//host' or a URL). */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\') || [...next].some((c) => c.charCodeAt(0) < 0x20)) return '/';
  if (next.startsWith('/sign-in')) return '/';
  return next;
}

/** The sign-in address that brings the person back to `current` afterwards. */
export function signInUrl(current: string): string {
  const next = safeNext(current);
  return next === '/' ? '/sign-in' : `/sign-in?next=${encodeURIComponent(next)}`;
}

/** Encodes one path segment of a console page (an address with '+' or '/' stays one segment). */
export const seg = (s: string) => encodeURIComponent(s);
