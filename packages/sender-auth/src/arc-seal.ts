// ARC sealing (RFC 8617) of mail an alias forwards: our ARC set records what we saw when the
// message arrived (ARC-Authentication-Results), signs the message as we pass it on
// (ARC-Message-Signature) and seals the chain (ARC-Seal), so that the next hop can trust the
// original authentication although our forwarding broke SPF (and maybe a signature). mailauth
// does the sealing; a message that already carries ARC sets is validated first, through the
// caller's resolver (dns-cache), because the seal states the chain's validity (cv=).
import { arc, dkimVerify, type ARCData } from 'mailauth';
import { createRequire } from 'node:module';
import { parseHeader, splitMessage } from './dkim-sign.ts';

const require = createRequire(import.meta.url);
const { createSeal } = require('mailauth/lib/arc') as {
  createSeal(input: Buffer, data: { seal: Record<string, unknown> }): Promise<{ headers: string[]; errors: { err: Error }[] }>;
};

export interface ArcSealKey {
  domain: string;
  selector: string;
  /** PKCS#8 PEM of an RSA key: RFC 8617 defines rsa-sha256 only. */
  privatePem: string;
}

export type ArcSealResult =
  | { ok: true; headers: string; instance: number; cv: 'none' | 'pass' | 'fail' }
  | { ok: false; reason: string };

export type Resolver = (name: string, rrtype: string) => Promise<unknown>;

/**
 * The ARC set to put in front of `message` (CRLF, as sent). `authResults` is the
 * Authentication-Results payload (`authserv-id; …`) of our own hop.
 */
export async function arcSeal(message: Buffer, key: ArcSealKey, options: { authResults: string; resolver: Resolver; now?: Date }): Promise<ArcSealResult> {
  const headers = parseHeader(splitMessage(message).header);
  const sets = headers.filter((h) => h.key === 'arc-seal').length;
  let cv: 'none' | 'pass' | 'fail' = 'none';
  if (sets > 0) {
    const verified = await dkimVerify(message, { resolver: options.resolver as never });
    const chain = await arc(verified.arc as ARCData, { resolver: options.resolver as never });
    const status = chain.status as { result?: string; shouldSeal?: boolean };
    if (status.result === 'pass') cv = 'pass';
    else if (status.shouldSeal) cv = 'fail';
    else return { ok: false, reason: `the ARC chain already failed (${status.result ?? 'unknown'})` };
  }
  const r = await createSeal(message, {
    seal: { signingDomain: key.domain, selector: key.selector, privateKey: key.privatePem, algorithm: 'rsa-sha256', authResults: options.authResults, cv, ...(options.now ? { signTime: options.now } : {}) },
  });
  if (!r.headers.length) return { ok: false, reason: r.errors.map((e) => e.err.message).join('; ') || 'not sealed' };
  return { ok: true, headers: r.headers.join('\r\n') + '\r\n', instance: sets + 1, cv };
}

/**
 * The Authentication-Results payload our own hop wrote, if the message has one above the
 * second Received: field (ours is the first); otherwise `<authservId>; none`.
 */
export function ownAuthResults(message: Buffer, authservId: string): string {
  let received = 0;
  for (const h of parseHeader(splitMessage(message).header)) {
    if (h.key === 'received' && ++received > 1) break;
    if (h.key === 'authentication-results') return h.line.toString('utf8').replace(/^[^:]*:\s*/, '').replace(/\r?\n[ \t]+/g, ' ').trim();
  }
  return `${authservId}; none`;
}
