// Which TLS a delivery needs (the operator's table, DANE, MTA-STS, else opportunistic), how to
// connect for it, and whether a session's TLS meets it, pure. The result types are those of
// TLS-RPT (RFC 8460 §4.3), so that what we enforce and what we report are one vocabulary.
import type { TlsaRecord } from '@hopmail/dns-client';
import { checkDane } from './dane.ts';
import { mxMatches, type CachedPolicy } from './mta-sts.ts';

export type OperatorPolicyKind = 'none' | 'may' | 'encrypt' | 'dane' | 'verify';

export interface OperatorPolicy {
  policy: OperatorPolicyKind;
  caPem: string | null;
  /** SHA-256 of the DER certificate, lower-case hex. */
  fingerprints: string[];
}

/** The TLS policy of a destination domain, before the MX host is known. */
export type DomainTls =
  | { source: 'operator'; policy: OperatorPolicy }
  | { source: 'sts'; policy: CachedPolicy }
  /** No policy; `failure` when an MTA-STS policy was announced but could not be had (reported). */
  | { source: 'none'; failure?: { resultType: 'sts-policy-fetch-error' | 'sts-policy-invalid'; detail: string } };

/** What one MX host's session must satisfy. */
export type TlsRequirement =
  | { level: 'none' }
  | { level: 'may' }
  | { level: 'encrypt' }
  | { level: 'verify'; caPem: string | null; fingerprints: string[] }
  /** MTA-STS: a certificate valid for the MX name under the Web PKI; enforced or only reported. */
  | { level: 'sts'; enforce: boolean; policyId: string }
  /** DANE (RFC 7672): validated, usable TLSA records of the MX host; outranks MTA-STS. */
  | { level: 'dane'; records: TlsaRecord[] };

/** The policy type a TLS-RPT report files a session under. */
export type PolicyType = 'sts' | 'tlsa' | 'no-policy-found';

export function policyTypeOf(req: TlsRequirement): PolicyType {
  return req.level === 'sts' ? 'sts' : req.level === 'dane' ? 'tlsa' : 'no-policy-found';
}

/** Hosts an MTA-STS policy allows, in their MX order. `testing` allows all (and reports). */
export function allowedHosts(tls: DomainTls, hosts: readonly string[]): { allowed: string[]; refused: string[] } {
  if (tls.source !== 'sts' || tls.policy.mode !== 'enforce') return { allowed: [...hosts], refused: [] };
  const allowed = hosts.filter((h) => mxMatches(tls.policy.mx, h));
  return { allowed, refused: hosts.filter((h) => !allowed.includes(h)) };
}

export function requirementFor(tls: DomainTls): TlsRequirement {
  switch (tls.source) {
    case 'operator': {
      const p = tls.policy;
      if (p.policy === 'verify') return { level: 'verify', caPem: p.caPem, fingerprints: p.fingerprints };
      // 'dane' without validated TLSA records: TLS is still required (Postfix's "dane-only"
      // defers instead; without DNSSEC support yet, encrypt is the closest honest reading).
      if (p.policy === 'dane') return { level: 'encrypt' };
      return { level: p.policy };
    }
    case 'sts':
      if (tls.policy.mode === 'none') return { level: 'may' };
      return { level: 'sts', enforce: tls.policy.mode === 'enforce', policyId: tls.policy.id };
    case 'none':
      return { level: 'may' };
  }
}

/** How to connect: whether to STARTTLS and whether it is mandatory. */
export function connectMode(req: TlsRequirement): 'none' | 'may' | 'require' {
  if (req.level === 'none') return 'none';
  if (req.level === 'may' || (req.level === 'sts' && !req.enforce)) return 'may';
  return 'require';
}

/**
 * REQUIRETLS (RFC 8689 §4.2.1): the message may travel only where TLS is verified by policy:
 * an enforced MTA-STS policy, or the operator's verify (DANE, when it exists, too).
 */
export function verifiesTls(req: TlsRequirement): boolean {
  return (req.level === 'sts' && req.enforce) || req.level === 'verify' || req.level === 'dane';
}

/** What the TLS layer of a session showed. */
export interface TlsFacts {
  secure: boolean;
  /** Node's chain and host name check against the trusted CAs (servername = MX host). */
  authorized: boolean;
  authorizationError: string | null;
  /** SHA-256 of the leaf certificate's DER, lower-case hex. */
  fingerprint: string | null;
  /** The certificates the server sent, DER, leaf first (DANE). */
  chain?: Buffer[];
  /** The leaf names the MX host (checkServerIdentity), whatever its trust. */
  hostOk?: boolean;
}

export type TlsResultType =
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure'
  | 'sts-policy-fetch-error'
  | 'sts-policy-invalid'
  | 'sts-webpki-invalid'
  | 'tlsa-invalid'
  | 'dnssec-invalid'
  | 'dane-required';

export type TlsCheck = { ok: true } | { ok: false; enforced: boolean; resultType: TlsResultType; detail: string };

/** Node's verification error codes → RFC 8460 result types. */
export function resultTypeOf(code: string | null): TlsResultType {
  switch (code) {
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH':
      return 'certificate-host-mismatch';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'certificate-expired';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_UNTRUSTED':
      return 'certificate-not-trusted';
    default:
      return 'validation-failure';
  }
}

/** Does an established session meet the requirement? (Checked before MAIL FROM.) */
export function checkSession(req: TlsRequirement, facts: TlsFacts): TlsCheck {
  if (req.level === 'none' || req.level === 'may') return { ok: true };
  const enforced = req.level !== 'sts' || req.enforce;
  if (!facts.secure) return { ok: false, enforced, resultType: 'starttls-not-supported', detail: 'the session is not encrypted' };
  if (req.level === 'encrypt') return { ok: true };
  if (req.level === 'dane') {
    const d = checkDane(req.records, facts.chain ?? [], facts.hostOk === true);
    return d.ok ? d : { ok: false, enforced, resultType: 'validation-failure', detail: d.detail };
  }
  if (req.level === 'verify' && req.fingerprints.length) {
    if (facts.fingerprint && req.fingerprints.includes(facts.fingerprint)) return { ok: true };
    return { ok: false, enforced, resultType: 'certificate-not-trusted', detail: `certificate SHA-256 ${facts.fingerprint ?? '?'} is not pinned` };
  }
  if (facts.authorized) return { ok: true };
  return { ok: false, enforced, resultType: resultTypeOf(facts.authorizationError), detail: facts.authorizationError ?? 'certificate not verified' };
}

/** A TLS failure as the reply recorded for the recipients (temporary: RFC 8461 §5 defers). */
export function tlsFailureReply(domain: string, host: string, req: TlsRequirement, check: Extract<TlsCheck, { ok: false }>): string {
  const by = req.level === 'sts' ? `MTA-STS policy of ${domain}` : req.level === 'dane' ? `DANE (TLSA of ${host})` : `TLS policy for ${domain} (${req.level})`;
  return `451 4.7.5 ${by}: TLS with ${host} failed: ${check.resultType} (${check.detail})`;
}
