// DKIM signing (RFC 6376) of the exact bytes we send: one DKIM-Signature per key (RFC 8463's
// dual Ed25519 + RSA signatures), relaxed/relaxed, and the header fields that matter
// oversigned (named once more than they occur, RFC 6376 §8.15) so that nobody downstream can
// add a second From, Subject, Date, To or Message-ID without breaking the signature. The body
// is hashed once for all keys. Pure and synchronous: the caller holds the keys.
import { createHash, sign, type KeyObject } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import type { DkimAlgorithm } from './keys.ts';
import { dkimBody, generateCanonicalizedHeader, tools, type ParsedHeader } from './mailauth-internals.ts';

export interface SigningKey {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  privateKey: KeyObject;
}

/** Signed when present (mailauth's default list, plus the one-click unsubscribe of RFC 8058). */
export const SIGNED_FIELDS = [
  'From', 'Sender', 'Reply-To', 'Subject', 'Date', 'Message-ID', 'To', 'Cc', 'MIME-Version', 'Content-Type',
  'Content-Transfer-Encoding', 'Content-ID', 'Content-Description', 'Resent-Date', 'Resent-From', 'Resent-Sender',
  'Resent-To', 'Resent-Cc', 'Resent-Message-ID', 'In-Reply-To', 'References', 'List-Id', 'List-Help',
  'List-Unsubscribe', 'List-Unsubscribe-Post', 'List-Subscribe', 'List-Post', 'List-Owner', 'List-Archive', 'Autocrypt',
] as const;

/** Named once more than they occur. */
export const OVERSIGNED_FIELDS = ['From', 'Subject', 'Date', 'To', 'Message-ID'] as const;

/** Header section and body of a CRLF message (no empty line: all header, empty body). */
export function splitMessage(message: Buffer): { header: Buffer; body: Buffer } {
  const i = message.indexOf('\r\n\r\n');
  if (i < 0) return { header: message, body: Buffer.alloc(0) };
  return { header: message.subarray(0, i + 2), body: message.subarray(i + 4) };
}

export function parseHeader(header: Buffer): ParsedHeader[] {
  return tools.parseHeaders(header).parsed.filter((h) => h.key);
}

export type FromDomain = { ok: true; domain: string } | { ok: false; reason: 'no-from' | 'several-from' | 'no-address' };

/** The domain of the one From: address (RFC 5322 §3.6: exactly one From field). */
export function fromDomain(headers: readonly ParsedHeader[]): FromDomain {
  const froms = headers.filter((h) => h.key === 'from');
  if (froms.length === 0) return { ok: false, reason: 'no-from' };
  if (froms.length > 1) return { ok: false, reason: 'several-from' };
  const value = froms[0]!.line.toString('utf8').replace(/^[^:]*:/, '').replace(/\r?\n/g, '');
  const addresses = addressparser(value, { flatten: true }).filter((a) => a.address.includes('@'));
  // RFC 5322 allows several mailboxes in From (with Sender); DMARC does not know which is meant.
  if (addresses.length !== 1) return { ok: false, reason: 'no-address' };
  const a = addresses[0]!.address;
  const domain = a.slice(a.lastIndexOf('@') + 1).toLowerCase();
  return domain ? { ok: true, domain } : { ok: false, reason: 'no-address' };
}

/** A message already split and its header parsed (the relay reads From: from the same parse). */
export interface SplitMessage {
  header: Buffer;
  body: Buffer;
  parsed: ParsedHeader[];
}

/** What each key signs: the canonicalised header fields ending in its own DKIM-Signature (b= empty). */
function prepare(message: Buffer | SplitMessage, keys: readonly SigningKey[], now: Date) {
  const { header, body } = Buffer.isBuffer(message) ? splitMessage(message) : message;
  const parsed = Buffer.isBuffer(message) ? parseHeader(header) : message.parsed;
  // RFC 6376 §3.4.4 and §3.7: relaxed body canonicalisation does not depend on the key, so
  // the body is hashed once for all of them.
  const hasher = dkimBody('relaxed', 'sha256', false);
  hasher.update(body);
  const bodyHash = hasher.digest('base64');
  const lines = tools.getSigningHeaderLines(parsed, SIGNED_FIELDS.join(':'));
  // A name in h= beyond the fields present contributes nothing to the hash (RFC 6376 §5.4.2).
  const signing = { keys: [lines.keys, ...OVERSIGNED_FIELDS].filter(Boolean).join(': '), headers: lines.headers };
  const timestamp = Math.floor(now.getTime() / 1000);
  return keys.map((k) => {
    const { canonicalizedHeader, dkimHeaderOpts } = generateCanonicalizedHeader('DKIM', signing, {
      signingDomain: k.domain,
      selector: k.selector,
      algorithm: k.algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256',
      canonicalization: 'relaxed/relaxed',
      bodyHash,
      timestamp,
    });
    // RFC 8463 §3: Ed25519 signs the SHA-256 of the canonicalised header (PureEdDSA over the hash).
    return k.algorithm === 'rsa'
      ? { hash: 'sha256' as const, data: canonicalizedHeader, key: k.privateKey, dkimHeaderOpts }
      : { hash: null, data: createHash('sha256').update(canonicalizedHeader).digest(), key: k.privateKey, dkimHeaderOpts };
  });
}

function format(prepared: ReturnType<typeof prepare>, signatures: readonly Buffer[]): string {
  return prepared.map((p, i) => tools.formatSignatureHeaderLine('DKIM', { ...p.dkimHeaderOpts, b: signatures[i]!.toString('base64') }, true)).join('\r\n') + '\r\n';
}

/**
 * The DKIM-Signature fields to put in front of `message` (CRLF line ends, as sent), each
 * ending in CRLF; '' without keys. The newest signature is first.
 */
export function signDkim(message: Buffer | SplitMessage, keys: readonly SigningKey[], now: Date = new Date()): string {
  if (!keys.length) return '';
  const prepared = prepare(message, keys, now);
  return format(prepared, prepared.map((p) => sign(p.hash, p.data, p.key)));
}

/**
 * signDkim() with the RSA operations in libuv's thread pool (crypto.sign with a callback): an
 * RSA-2048 signature is about 1 ms of CPU, which would otherwise stop the event loop of a
 * relay sending many messages at a time. An Ed25519 signature (some 40 µs) costs less than
 * the trip to the pool and back, so it is made here. The same bytes as signDkim().
 */
export async function signDkimAsync(message: Buffer | SplitMessage, keys: readonly SigningKey[], now: Date = new Date()): Promise<string> {
  if (!keys.length) return '';
  const prepared = prepare(message, keys, now);
  const signatures = await Promise.all(
    prepared.map((p) => (p.hash === null ? sign(null, p.data, p.key) : new Promise<Buffer>((resolve, reject) => sign(p.hash, p.data, p.key, (err, sig) => (err ? reject(err) : resolve(sig)))))),
  );
  return format(prepared, signatures);
}
