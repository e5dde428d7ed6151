// The Authenticator port on mailauth (issue 12): SPF (RFC 7208), DKIM (RFC 6376, RSA and
// Ed25519 per RFC 8463), DMARC (RFC 7489, the organisational domain from the Public Suffix
// List that mailauth ships — tldts, never fetched) and ARC (RFC 8617), every DNS question
// through dns-cache (@hopmail/dns-client). Hopmail's own parts: the resolver wrapper, the
// bounds (signatures verified, the time limit), fail-closed DMARC for several From: fields,
// and turning mailauth's result into our AuthResults.

import { domainToASCII } from 'node:url';
import { authenticate, dmarc as dmarcCheck, spf as spfCheck } from 'mailauth';
import type { DnsClient } from '@hopmail/dns-client';
import { TimeoutError, withTimeout } from '@hopmail/service-kit';
import type { AuthResults, AuthResultValue, DmarcPolicy } from '../policy/mail-auth-policy.ts';
import type { AuthCheckInput, Authenticator, SpfCheck } from '../ports.ts';
import { createDkimKeyCache, installDkimKeyCache } from './dkim-key-cache.ts';

export interface MailAuthenticatorOptions {
  dns: DnsClient;
  authservId: string;
  /** Whole check (all identities) at most this long; past it every unfinished check is temperror. */
  timeoutMs: number;
  /** DKIM-Signature fields verified per message (the topmost ones); the rest are skipped. */
  maxSignatures: number;
  /** Shortest RSA key that verifies (RFC 8301: 1024); shorter keys fail as too weak. */
  minRsaBits: number;
  /** How long answers are kept in this process in front of dns-cache (0: not at all). */
  dnsCacheMs?: number;
}

const RESULTS = new Set<AuthResultValue>(['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror', 'policy']);

/** mailauth's status values onto RFC 8601's ('temperr', 'skipped'… included). */
function value(v: unknown): AuthResultValue {
  if (v === 'temperr') return 'temperror';
  return RESULTS.has(v as AuthResultValue) ? (v as AuthResultValue) : 'neutral';
}

const dnsError = (code: string, name: string) => Object.assign(new Error(`${code} ${name}`), { code });

/**
 * mailauth's resolver: node:dns's resolve(name, rrtype) through dns-cache. Names are turned
 * into A-labels (RFC 8616: a non-ASCII selector or domain is looked up in its A-label form);
 * a name that cannot exist in DNS is "not found", not a temporary failure that would defer
 * the message for ever.
 */
export function authResolver(dns: DnsClient, cacheMs = 0, now: () => number = Date.now): (name: string, rrtype?: string) => Promise<unknown> {
  // A short process-local memo in front of dns-cache: the same sender's SPF, DKIM key and
  // DMARC record are asked for every message it sends, and each UDP round trip costs CPU in
  // this process and in dns-cache. An answer is kept as long as its TTL says (a NXDOMAIN or
  // NODATA as long as its SOA's negative TTL, RFC 2308 §5), and never longer than `cacheMs`;
  // an answer that says no TTL (a negative one without an SOA, or from a DnsClient without
  // resolveWithTtl) is kept `cacheMs`, as before TTLs were read.
  // Temporary failures never are. Concurrent identical questions share one look-up.
  const memo = new Map<string, { until: number; answer: Promise<unknown> }>();
  const keepMs = (ttl: number | null | undefined) => (typeof ttl === 'number' ? Math.min(cacheMs, ttl * 1000) : cacheMs);
  return async (name, rrtype = 'A') => {
    const trimmed = String(name).replace(/\.$/, '');
    const ascii = /^[\x21-\x7e]*$/.test(trimmed) ? trimmed.toLowerCase() : domainToASCII(trimmed);
    if (!ascii || ascii.length > 253 || ascii.split('.').some((label) => label.length === 0 || label.length > 63) || !/^[a-z0-9_.-]+$/i.test(ascii)) {
      throw dnsError('ENOTFOUND', trimmed);
    }
    if (cacheMs <= 0) return dns.resolve(ascii, rrtype);
    const key = `${rrtype} ${ascii}`;
    const asked = now();
    const hit = memo.get(key);
    if (hit && asked < hit.until) return hit.answer;
    const withTtl = dns.resolveWithTtl ? dns.resolveWithTtl(ascii, rrtype) : dns.resolve(ascii, rrtype).then((answer) => ({ answer, ttl: null }));
    const answer = withTtl.then((a) => a.answer);
    // Until the answer is in, questions share it; then it is kept for its TTL from when it was asked.
    const entry = { until: asked + cacheMs, answer };
    if (memo.size >= 10_000) memo.clear();
    memo.set(key, entry);
    withTtl.then(
      (a) => {
        entry.until = asked + keepMs(a.ttl);
      },
      (err: unknown) => {
        const { code, ttl } = err as { code?: string; ttl?: number | null };
        if (code === 'ENOTFOUND' || code === 'ENODATA') entry.until = asked + keepMs(ttl);
        else if (memo.get(key) === entry) memo.delete(key);
      },
    );
    return answer;
  };
}

/** The header section (up to the empty line) and where the body starts. */
function headerEnd(raw: Buffer): number {
  const i = raw.indexOf('\r\n\r\n');
  return i < 0 ? raw.length : i + 2;
}

/**
 * The message with only the first `max` DKIM-Signature fields: what is verified. The rest are
 * neither verified nor looked up (5,000 signatures would otherwise be 5,000 DNS questions and
 * key operations). The stored message keeps every byte.
 */
export function capSignatures(raw: Buffer, max: number): { raw: Buffer; skipped: number } {
  const end = headerEnd(raw);
  const head = raw.toString('latin1', 0, end);
  const starts = [...head.matchAll(/(?:^|\r\n)(dkim-signature[ \t]*:)/gi)];
  if (starts.length <= max) return { raw, skipped: 0 };
  const keep: Buffer[] = [];
  let seen = 0;
  let pos = 0;
  while (pos < end) {
    let next = head.indexOf('\r\n', pos);
    next = next < 0 ? end : next + 2;
    while (next < end && (head[next] === ' ' || head[next] === '\t')) {
      const n = head.indexOf('\r\n', next);
      next = n < 0 ? end : n + 2;
    }
    const isSig = /^dkim-signature[ \t]*:/i.test(head.slice(pos, pos + 20));
    if (!isSig || ++seen <= max) keep.push(raw.subarray(pos, next));
    pos = next;
  }
  keep.push(raw.subarray(end));
  return { raw: Buffer.concat(keep), skipped: starts.length - max };
}

// mailauth's results, read defensively (its typings do not cover every field we read).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

const policyOf = (p: unknown): DmarcPolicy | null => (p === 'none' || p === 'quarantine' || p === 'reject' ? p : null);
const STRICTNESS: Record<DmarcPolicy, number> = { none: 0, quarantine: 1, reject: 2 };

/** Parsed DKIM/ARC keys kept per thread (dkim-key-cache.ts): a few hundred bytes each. */
const DKIM_KEYS_KEPT = 1000;

export function createMailAuthenticator(options: MailAuthenticatorOptions): Authenticator {
  const resolver = authResolver(options.dns, options.dnsCacheMs ?? 0);
  const { authservId } = options;
  installDkimKeyCache(createDkimKeyCache(DKIM_KEYS_KEPT));

  const allTemporary = (input: AuthCheckInput, reason: string) => temporaryResults(input, authservId, reason);

  async function run(input: AuthCheckInput): Promise<AuthResults> {
    const capped = capSignatures(input.raw, options.maxSignatures);
    const r = (await authenticate(capped.raw, {
      resolver: resolver as never,
      sender: input.mailFrom || undefined,
      ip: input.remoteIp,
      helo: input.helo ?? input.remoteIp,
      mta: authservId,
      minBitLength: options.minRsaBits,
      disableBimi: true,
      // RFC 7208 §4.6.4; passed through to mailauth's spf().
      maxResolveCount: 10,
      maxVoidCount: 2,
      maxElapsedTime: Math.max(1, options.timeoutMs - 100),
    } as never)) as Loose;

    const infos: string[] = [];
    const dkim: AuthResults['dkim'] = [];
    for (const row of (r.dkim?.results ?? []) as Loose[]) {
      const status = row.status ?? {};
      let result = value(status.result);
      let info = String(row.info ?? '');
      // RFC 6376 §6.1.3 step 3: a body hash that does not match is a PERMFAIL, which RFC 8601
      // reports as fail; mailauth's lenient mode says neutral.
      if (result === 'neutral' && status.comment === 'body hash did not verify') {
        result = 'fail';
        info = info.replace(/^dkim=neutral/, 'dkim=fail');
      }
      if (info) infos.push(info);
      // mailauth's row for an unsigned message ("dkim=none") is no signature.
      if (!row.signingDomain && result === 'none') continue;
      dkim.push({
        result,
        domain: String(row.signingDomain ?? ''),
        selector: String(row.selector ?? ''),
        algorithm: String(row.algo ?? ''),
        aligned: Boolean(status.aligned),
        ...(status.comment ? { reason: String(status.comment) } : {}),
        ...(typeof status.underSized === 'number' && status.underSized > 0 ? { unsignedBytes: status.underSized } : {}),
      });
    }
    if (capped.skipped) infos.push(`dkim=neutral (${capped.skipped} more signatures not verified: limit ${options.maxSignatures})`);

    const spfR = (r.spf || {}) as Loose;
    if (spfR.info) infos.push(spfR.info);
    const spf: AuthResults['spf'] = {
      result: value(spfR.status?.result ?? 'none'),
      domain: String(spfR.domain ?? spfDomain(input)),
      identity: input.mailFrom ? 'mailfrom' : 'helo',
      ...(spfR.status?.comment ? { reason: String(spfR.status.comment) } : {}),
    };

    const arcR = (r.arc || {}) as Loose;
    if (arcR.info) infos.push(arcR.info);
    const arc: AuthResults['arc'] = {
      result: value(arcR.status?.result ?? 'none'),
      instance: typeof arcR.i === 'number' ? arcR.i : null,
      ...(arcR.status?.comment ? { reason: String(arcR.status.comment) } : {}),
    };

    let dmarc: AuthResults['dmarc'];
    const d = r.dmarc as Loose | false;
    if (d) {
      dmarc = {
        result: value(d.status?.result),
        domain: String(d.status?.header?.from ?? d.domain ?? '') || null,
        policy: policyOf(d.policy),
        ...(d.status?.comment ? { reason: String(d.status.comment) } : {}),
      };
      const unsigned = Number(d.alignment?.dkim?.underSized ?? 0);
      if (dmarc.result === 'pass' && !d.alignment?.spf?.result && unsigned > 0) {
        // The only aligned signature covers part of the body (l=): what follows it is
        // unsigned, and DMARC must not vouch for it (README: l=).
        dmarc = { ...dmarc, result: 'fail', reason: `aligned DKIM signature leaves ${unsigned} body bytes unsigned (l=)` };
        infos.push(`dmarc=fail (${dmarc.reason}${dmarc.policy ? `, p=${dmarc.policy}` : ''}) header.from=${dmarc.domain ?? ''}`);
      } else if (d.info) infos.push(d.info);
    } else if (r.dmarcSkipReason === 'multiple-from-fields' || r.dmarcSkipReason === 'multiple-author-domains') {
      dmarc = await failClosed(r.dkim?.headerFrom ?? [], String(r.dmarcSkipReason));
      infos.push(`dmarc=${dmarc.result} (${dmarc.reason}${dmarc.policy ? `, p=${dmarc.policy}` : ''})${dmarc.domain ? ` header.from=${dmarc.domain}` : ''}`);
    } else {
      dmarc = { result: 'none', domain: null, policy: null, ...(r.dmarcSkipReason ? { reason: String(r.dmarcSkipReason) } : {}) };
      infos.push(`dmarc=none${r.dmarcSkipReason ? ` (${r.dmarcSkipReason})` : ''}`);
    }

    return {
      authservId,
      header: `${authservId};\r\n ` + infos.map((i) => i.replace(/\r?\n/g, '\r\n')).join(';\r\n '),
      spf,
      dkim,
      dkimSkipped: capped.skipped,
      dmarc,
      arc,
    };
  }

  /**
   * Several From: fields, or one naming several domains (RFC 7489 §6.6.1): DMARC cannot pass.
   * It fails, under the strictest policy any of the author domains publishes, so that a
   * second From: cannot smuggle a p=reject domain past the check.
   */
  async function failClosed(addresses: string[], reason: string): Promise<AuthResults['dmarc']> {
    const domains = [...new Set(addresses.map((a) => a.slice(a.lastIndexOf('@') + 1).toLowerCase()).filter(Boolean))].slice(0, 5);
    let worst: { domain: string; policy: DmarcPolicy } | null = null;
    for (const domain of domains) {
      const res = (await dmarcCheck({ headerFrom: `x@${domain}`, spfDomains: [], dkimDomains: [], resolver: resolver as never } as never)) as Loose | false;
      if (!res) continue;
      if (value(res.status?.result) === 'temperror') return { result: 'temperror', domain, policy: null, reason };
      const p = policyOf(res.policy);
      if (p && (!worst || STRICTNESS[p] > STRICTNESS[worst.policy])) worst = { domain, policy: p };
    }
    return { result: 'fail', domain: worst?.domain ?? domains[0] ?? null, policy: worst?.policy ?? null, reason };
  }

  return {
    authservId,
    async check(input) {
      try {
        return await withTimeout(run(input), options.timeoutMs, 'mail authentication');
      } catch (err) {
        return allTemporary(input, err instanceof TimeoutError ? 'time limit' : 'verification failed');
      }
    },
  };
}

/**
 * SPF alone (RFC 7208) at RCPT, on the session thread: greylisting's exemption for an
 * allowlisted sender domain (issue 13). The same mailauth evaluation, limits and dns-cache path
 * as the end-of-DATA check; no message is needed, and the CPU is that of a few DNS answers.
 */
export function createSpfCheck(options: Pick<MailAuthenticatorOptions, 'dns' | 'authservId' | 'timeoutMs' | 'dnsCacheMs'>): SpfCheck {
  const resolver = authResolver(options.dns, options.dnsCacheMs ?? 0);
  return {
    async check(input) {
      try {
        const r = (await withTimeout(
          spfCheck({
            resolver: resolver as never,
            sender: input.mailFrom,
            ip: input.remoteIp,
            helo: input.helo ?? input.remoteIp,
            mta: options.authservId,
            maxResolveCount: 10,
            maxVoidCount: 2,
            maxElapsedTime: Math.max(1, options.timeoutMs - 100),
          } as never),
          options.timeoutMs,
          'SPF check',
        )) as Loose | false;
        return value(r ? r.status?.result : 'none');
      } catch {
        return 'temperror';
      }
    },
  };
}

/** Every check temperror: the time limit, a failed worker, or mailauth itself failed. */
export function temporaryResults(input: Pick<AuthCheckInput, 'mailFrom' | 'helo' | 'remoteIp'>, authservId: string, reason: string): AuthResults {
  const domain = spfDomain(input);
  const header = `${authservId};\r\n spf=temperror (${reason}) smtp.${input.mailFrom ? 'mailfrom' : 'helo'}=${domain};\r\n dkim=temperror (${reason});\r\n dmarc=temperror (${reason})`;
  return {
    authservId,
    header,
    spf: { result: 'temperror', domain, identity: input.mailFrom ? 'mailfrom' : 'helo', reason },
    dkim: [{ result: 'temperror', domain: '', selector: '', algorithm: '', aligned: false, reason }],
    dkimSkipped: 0,
    dmarc: { result: 'temperror', domain: null, policy: null, reason },
    arc: { result: 'temperror', instance: null, reason },
  };
}

function spfDomain(input: Pick<AuthCheckInput, 'mailFrom' | 'helo' | 'remoteIp'>): string {
  if (!input.mailFrom) return input.helo ?? input.remoteIp;
  return input.mailFrom.slice(input.mailFrom.lastIndexOf('@') + 1).toLowerCase();
}
