// MTA-STS (RFC 8461), pure: the _mta-sts TXT record, the policy file, MX matching, and which
// policy holds given what DNS, the cache and the fetch said. I/O is in adapters/mta-sts.ts.

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  mode: StsMode;
  /** MX patterns, lower case: `mx.example.org` or `*.example.org` (one label). */
  mx: string[];
  maxAge: number;
}

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year). */
export const STS_MAX_AGE_LIMIT = 31_557_600;
/** Largest policy body accepted. RFC 8461 sets none; real policies are a few hundred bytes. */
export const STS_MAX_BODY_BYTES = 64 * 1024;

export type TxtVerdict = { kind: 'policy'; id: string } | { kind: 'none' } | { kind: 'invalid'; reason: string };

/**
 * RFC 8461 §3.1: records not starting with `v=STSv1;` are ignored; not exactly one left means
 * no policy is available (and so does a malformed one). `id` is 1–32 alphanumerics.
 */
export function parseStsTxt(records: readonly string[]): TxtVerdict {
  const sts = records.filter((r) => /^v=STSv1;/.test(r));
  if (sts.length === 0) return { kind: 'none' };
  if (sts.length > 1) return { kind: 'invalid', reason: `${sts.length} STSv1 TXT records` };
  let id: string | undefined;
  for (const field of sts[0]!.split(';').slice(1)) {
    const f = field.trim();
    if (f === '') continue;
    const eq = f.indexOf('=');
    if (eq <= 0) return { kind: 'invalid', reason: `malformed field "${f}"` };
    const key = f.slice(0, eq).trim();
    const value = f.slice(eq + 1).trim();
    if (key === 'id') {
      if (!/^[A-Za-z0-9]{1,32}$/.test(value)) return { kind: 'invalid', reason: `bad id "${value}"` };
      id = value;
    }
  }
  return id === undefined ? { kind: 'invalid', reason: 'no id' } : { kind: 'policy', id };
}

export type PolicyParse = { ok: true; policy: StsPolicy } | { ok: false; reason: string };

/**
 * The policy file (RFC 8461 §3.2): `key: value` lines, CRLF or LF (mixes accepted, as the
 * RFC's robustness note allows), unknown keys ignored (§3.2: for future extension), `mx`
 * repeated. Required: version STSv1, mode, max_age, and mx unless mode is none.
 */
export function parseStsPolicy(body: string): PolicyParse {
  if (Buffer.byteLength(body) > STS_MAX_BODY_BYTES) return { ok: false, reason: `policy larger than ${STS_MAX_BODY_BYTES} bytes` };
  const fields = new Map<string, string>();
  const mx: string[] = [];
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.replace(/[ \t]+$/, '');
    if (line === '') continue;
    const m = /^([A-Za-z0-9_]+)[ \t]*:[ \t]*(.*)$/.exec(line);
    if (!m) return { ok: false, reason: `malformed line "${line.slice(0, 80)}"` };
    const key = m[1]!;
    const value = m[2]!;
    if (key === 'mx') {
      const pattern = value.toLowerCase().replace(/\.$/, '');
      if (!/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/.test(pattern)) return { ok: false, reason: `bad mx pattern "${value.slice(0, 80)}"` };
      mx.push(pattern);
    } else if (!fields.has(key)) {
      fields.set(key, value);
    }
  }
  if (fields.get('version') !== 'STSv1') return { ok: false, reason: 'version is not STSv1' };
  const mode = fields.get('mode');
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') return { ok: false, reason: `bad mode "${mode ?? ''}"` };
  const maxAgeText = fields.get('max_age');
  if (maxAgeText === undefined || !/^\d{1,10}$/.test(maxAgeText)) return { ok: false, reason: 'max_age missing or not a number' };
  const maxAge = Number(maxAgeText);
  if (maxAge > STS_MAX_AGE_LIMIT) return { ok: false, reason: `max_age ${maxAge} exceeds ${STS_MAX_AGE_LIMIT} (RFC 8461 §3.2)` };
  if (mode !== 'none' && mx.length === 0) return { ok: false, reason: 'no mx' };
  return { ok: true, policy: { mode, mx, maxAge } };
}

/** RFC 8461 §4.1: a pattern `*.example.org` matches exactly one more label. */
export function mxMatches(patterns: readonly string[], host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => {
    if (!p.startsWith('*.')) return p === h;
    const dot = h.indexOf('.');
    return dot > 0 && h.slice(dot + 1) === p.slice(2);
  });
}

/** What is cached in PostgreSQL for a domain. */
export interface CachedPolicy extends StsPolicy {
  id: string;
  expiresAt: Date;
}

export type StsDecision =
  /** Use this policy (from the cache or just fetched). */
  | { kind: 'use'; policy: CachedPolicy }
  /** Fetch the policy for this id; `fallback` is the still-valid cached one, if any. */
  | { kind: 'fetch'; id: string; fallback: CachedPolicy | null }
  | { kind: 'none' };

/**
 * RFC 8461 §5.1: a cached, unexpired policy holds while the TXT id is unchanged; a new id means
 * fetch; a missing TXT record or a DNS failure does not invalidate a cached policy (only its
 * expiry does), and without one there is no policy.
 */
export function decideSts(txt: TxtVerdict | 'dns-failure', cached: CachedPolicy | null, now: Date): StsDecision {
  const valid = cached && cached.expiresAt.getTime() > now.getTime() ? cached : null;
  if (txt !== 'dns-failure' && txt.kind === 'policy' && (!valid || valid.id !== txt.id)) return { kind: 'fetch', id: txt.id, fallback: valid };
  return valid ? { kind: 'use', policy: valid } : { kind: 'none' };
}
