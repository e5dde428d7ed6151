// The step of deliver-remote between reading the message and sending it: DKIM signatures
// with the keys of the From: domain (or of its closest parent domain that has keys: relaxed
// DMARC alignment, RFC 7489 §3.1.1, which is what signs our DSNs from MAILER-DAEMON@<relay
// host>), and for mail an alias forwards, an ARC set by the alias's domain. Signing happens
// on the bytes that are sent, once per transaction whatever the number of recipients. What
// was done — or why not — goes into the attempt's trace (relay_attempts.auth).
import type { Logger } from 'pino';
import { arcSeal, fromDomain, ownAuthResults, parseHeader, signDkimAsync, splitMessage, type Resolver } from '@hopmail/sender-auth';
import type { SigningKeys } from '../adapters/signing-keys.ts';
import { EVENTS } from '../events.ts';
import type { EnvelopeGroup } from '../policy/envelope.ts';

export type DkimAuth = { result: 'signed'; domain: string; selectors: string[] } | { result: 'unsigned'; reason: string };
export type ArcAuth = { result: 'sealed'; domain: string; selector: string; instance: number; cv: string } | { result: 'unsealed'; reason: string };

/** relay_attempts.auth: what the relay did to authenticate one transaction. */
export interface AttemptAuth {
  dkim: DkimAuth;
  arc?: ArcAuth;
  srs?: NonNullable<EnvelopeGroup<unknown>['srs']>;
}

/** `a.b.example.org` → itself, `b.example.org`, `example.org` (never a single label). */
export function signingCandidates(domain: string): string[] {
  const labels = domain.toLowerCase().split('.');
  const out: string[] = [];
  for (let i = 0; i <= labels.length - 2; i++) out.push(labels.slice(i).join('.'));
  return out;
}

const FROM_PROBLEM = { 'no-from': 'the message has no From: field', 'several-from': 'the message has several From: fields', 'no-address': 'From: does not hold exactly one address' } as const;

export interface AuthenticatorDeps {
  keys: SigningKeys;
  /** DNS for validating an ARC chain the message already carries (dns-cache). */
  resolver: Resolver;
  /** authserv-id of ARC-Authentication-Results when our hop left no Authentication-Results. */
  hostname: string;
  logger: Logger;
}

export function createAuthenticator({ keys, resolver, hostname, logger }: AuthenticatorDeps) {
  /** `epoch`: dkim_key_epoch read with the job's work (adapters/signing-keys.ts). */
  return async function authenticate(raw: Buffer, group: Pick<EnvelopeGroup<unknown>, 'forwardedBy' | 'srs'>, epoch: number, ctx: Record<string, unknown>): Promise<{ bytes: Buffer; auth: AttemptAuth }> {
    // Split and parsed once: From: here, the signed fields in signDkimAsync().
    const split = splitMessage(raw);
    const parsed = { ...split, parsed: parseHeader(split.header) };
    const from = fromDomain(parsed.parsed);
    const candidates = from.ok ? signingCandidates(from.domain) : [];
    const lookup = [...candidates, ...(group.forwardedBy && !candidates.includes(group.forwardedBy) ? [group.forwardedBy] : [])];
    const found = await keys.forDomains(lookup, epoch);
    if (!found.cached) for (const u of found.unusable) {
      logger.warn({ event: EVENTS.dkimKeyUnusable, ...ctx, dkimDomain: u.domain, selector: u.selector, algorithm: u.algorithm, kekId: u.kekId, reason: u.reason }, 'active DKIM key cannot be used');
    }

    let dkim: DkimAuth;
    let signatures = '';
    const signer = candidates.find((d) => found.keys.has(d));
    if (!from.ok) dkim = { result: 'unsigned', reason: FROM_PROBLEM[from.reason] };
    else if (!signer) dkim = { result: 'unsigned', reason: `no active DKIM key for ${from.domain}${candidates.length > 1 ? ' or its parent domains' : ''}` };
    else {
      const use = found.keys.get(signer)!;
      // The private-key operations in libuv's thread pool, off the event loop the other jobs share.
      signatures = await signDkimAsync(parsed, use.map((k) => ({ domain: k.domain, selector: k.selector, algorithm: k.algorithm, privateKey: k.key })));
      dkim = { result: 'signed', domain: signer, selectors: use.map((k) => k.selector) };
    }
    const signed = signatures ? Buffer.concat([Buffer.from(signatures, 'latin1'), raw]) : raw;

    const auth: AttemptAuth = { dkim };
    if (group.srs) auth.srs = group.srs;
    if (!group.forwardedBy) return { bytes: signed, auth };

    const rsa = found.keys.get(group.forwardedBy)?.find((k) => k.algorithm === 'rsa');
    if (!rsa) {
      auth.arc = { result: 'unsealed', reason: `no active RSA key for ${group.forwardedBy} (ARC signs with rsa-sha256 only)` };
      return { bytes: signed, auth };
    }
    try {
      const seal = await arcSeal(signed, { domain: rsa.domain, selector: rsa.selector, privatePem: rsa.pem }, { authResults: ownAuthResults(raw, hostname), resolver });
      if (!seal.ok) {
        auth.arc = { result: 'unsealed', reason: seal.reason };
        return { bytes: signed, auth };
      }
      auth.arc = { result: 'sealed', domain: rsa.domain, selector: rsa.selector, instance: seal.instance, cv: seal.cv };
      return { bytes: Buffer.concat([Buffer.from(seal.headers, 'latin1'), signed]), auth };
    } catch (err) {
      logger.warn({ event: EVENTS.arcSealFailed, ...ctx, err: (err as Error).message }, 'ARC sealing failed; sending without a seal');
      auth.arc = { result: 'unsealed', reason: `sealing failed: ${(err as Error).message}` };
      return { bytes: signed, auth };
    }
  };
}

export type Authenticate = ReturnType<typeof createAuthenticator>;
