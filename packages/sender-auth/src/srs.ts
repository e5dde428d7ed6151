// Sender Rewriting Scheme, in the SRS0/SRS1 forms of libsrs2 (postsrsd, Postfix and Exim
// users know them): mail an alias forwards to another domain leaves with the envelope sender
// rewritten into our domain, so that SPF passes at the next hop, and a bounce to that address
// can be turned back into the original sender — only by us, only for a while.
//
//   SRS0=HHHH=TT=orig.domain=user@our.domain            forwarding original mail
//   SRS1=HHHH=first.forwarder==HHHH=TT=orig.domain=user@our.domain   forwarding SRS0 mail
//
// HHHH: the first 4 characters of base64(HMAC-SHA1(secret, lower-cased fields)); TT: the day
// (mod 1024) in 2 base32 characters. Pure: secrets and clock are passed in.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { int, z } from '@hopmail/config';

/** Public, protects nothing: outside production when SRS_SECRET is unset (and logged as such). */
export const DEVELOPMENT_SRS_SECRET = 'hopmail-development-srs-secret-public';

export const srsConfig = {
  SRS_SECRET: z
    .string()
    .default('')
    .refine((s) => s === '' || s.length >= 16, 'must be at least 16 characters (e.g. `openssl rand -base64 24`)')
    .describe('secret of the SRS hash (HMAC-SHA1, as postsrsd); the same for smtp-ingress and outbound-relay. Required in production; elsewhere unset means a public development secret'),
  SRS_PREVIOUS_SECRETS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .describe('comma-separated secrets that were SRS_SECRET before: bounces to addresses made with them are still accepted (rotate without losing bounces in flight)'),
  SRS_MAX_AGE_DAYS: int(21, 1, 1000, 'days a bounce to an SRS address is accepted after the mail left (postsrsd: 21); older ones are refused 550 5.7.1'),
} as const;

export interface SrsKeys {
  /** Signs new addresses and checks them. */
  secret: string;
  /** Only check. */
  previous?: readonly string[];
  maxAgeDays: number;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const SLOTS = 1024;
const DAY_MS = 86_400_000;
const HASH_LENGTH = 4;
/**
 * RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets; smtp-server (our
 * ingress) counts 253 for local@domain, so we never make an address our own RCPT refuses.
 */
export const MAX_ADDRESS_OCTETS = 253;

function hash(secret: string, ...fields: string[]): string {
  const h = createHmac('sha1', secret);
  for (const f of fields) h.update(f.toLowerCase());
  return h.digest('base64').slice(0, HASH_LENGTH);
}

function today(now: Date): number {
  return Math.floor(now.getTime() / DAY_MS) % SLOTS;
}

function encodeStamp(day: number): string {
  return BASE32[(day >> 5) & 31]! + BASE32[day & 31]!;
}

/** The day slot, or null when the stamp is not 2 base32 characters. */
function decodeStamp(stamp: string): number | null {
  if (stamp.length !== 2) return null;
  const hi = BASE32.indexOf(stamp[0]!.toUpperCase());
  const lo = BASE32.indexOf(stamp[1]!.toUpperCase());
  return hi < 0 || lo < 0 ? null : (hi << 5) | lo;
}

// libsrs2 compares without case: some MTAs lower-case local parts on the way back.
function hashMatches(keys: SrsKeys, given: string, fields: string[]): boolean {
  if (given.length !== HASH_LENGTH) return false;
  const g = Buffer.from(given.toLowerCase());
  return [keys.secret, ...(keys.previous ?? [])].some((s) => {
    const want = Buffer.from(hash(s, ...fields).toLowerCase());
    return want.length === g.length && timingSafeEqual(want, g);
  });
}

const octets = (s: string) => Buffer.byteLength(s, 'utf8');
const split = (address: string) => {
  const at = address.lastIndexOf('@');
  return at <= 0 ? null : { local: address.slice(0, at), domain: address.slice(at + 1) };
};

/** Accepted separators after SRS0/SRS1 (libsrs2 reads =, + and -; we write =). */
const SRS0 = /^SRS0[=+-]([^=]+)=([^=]+)=([^=]+)=(.+)$/is;
const SRS1 = /^SRS1[=+-]([^=]+)=([^=]+)=(.+)$/is;

export function isSrsLocalPart(local: string): boolean {
  return /^SRS[01][=+-]/i.test(local);
}

export type SrsForward = { ok: true; address: string } | { ok: false; reason: 'null-sender' | 'malformed' | 'too-long' };

/**
 * The envelope sender for mail we forward on behalf of `sender`, in `ourDomain`. An SRS0 or
 * SRS1 sender (mail another forwarder rewrote) becomes SRS1, keeping the first forwarder, as
 * libsrs2 does. An address that would be longer than RFC 5321 allows is not rewritten.
 */
export function srsForward(sender: string, ourDomain: string, keys: SrsKeys, now: Date): SrsForward {
  if (sender === '') return { ok: false, reason: 'null-sender' };
  const parts = split(sender);
  if (!parts) return { ok: false, reason: 'malformed' };
  let local: string;
  const s1 = SRS1.exec(parts.local);
  if (s1) {
    const [, , host, rest] = s1 as unknown as [string, string, string, string];
    local = `SRS1=${hash(keys.secret, host, rest)}=${host}=${rest}`;
  } else if (SRS0.test(parts.local)) {
    const rest = parts.local.slice(4);
    local = `SRS1=${hash(keys.secret, parts.domain, rest)}=${parts.domain}=${rest}`;
  } else {
    const stamp = encodeStamp(today(now));
    local = `SRS0=${hash(keys.secret, stamp, parts.domain, parts.local)}=${stamp}=${parts.domain}=${parts.local}`;
  }
  const address = `${local}@${ourDomain}`;
  if (octets(address) > MAX_ADDRESS_OCTETS) return { ok: false, reason: 'too-long' };
  return { ok: true, address };
}

export type SrsReverse =
  | { kind: 'not-srs' }
  | { kind: 'ok'; address: string }
  | { kind: 'invalid'; reason: 'malformed' | 'bad-timestamp' | 'bad-hash' | 'expired' | 'too-long' };

/** The address an SRS address stands for, when its hash (and, for SRS0, its day) checks out. */
export function srsReverse(address: string, keys: SrsKeys, now: Date): SrsReverse {
  const parts = split(address);
  if (!parts || !isSrsLocalPart(parts.local)) return { kind: 'not-srs' };
  if (octets(address) > MAX_ADDRESS_OCTETS) return { kind: 'invalid', reason: 'too-long' };
  const s1 = SRS1.exec(parts.local);
  if (s1) {
    const [, given, host, rest] = s1 as unknown as [string, string, string, string];
    if (!/^[=+-]/.test(rest) || !SRS0.test(`SRS0${rest}`)) return { kind: 'invalid', reason: 'malformed' };
    if (!hashMatches(keys, given, [host, rest])) return { kind: 'invalid', reason: 'bad-hash' };
    // The day is the first forwarder's to check: it made the SRS0 part.
    return { kind: 'ok', address: `SRS0${rest}@${host}` };
  }
  const s0 = SRS0.exec(parts.local);
  if (!s0) return { kind: 'invalid', reason: 'malformed' };
  const [, given, stamp, host, user] = s0 as unknown as [string, string, string, string, string];
  const day = decodeStamp(stamp);
  if (day === null) return { kind: 'invalid', reason: 'bad-timestamp' };
  if (!hashMatches(keys, given, [stamp, host, user])) return { kind: 'invalid', reason: 'bad-hash' };
  // libsrs2: a stamp "in the future" is one from the previous 1024-day cycle.
  const age = (today(now) - day + SLOTS) % SLOTS;
  if (age > keys.maxAgeDays) return { kind: 'invalid', reason: 'expired' };
  return { kind: 'ok', address: `${user}@${host}` };
}
