// rspamd's HTTP protocol (https://rspamd.com/doc/developers/protocol.html): POST the message
// to the normal worker's /checkv2 with the envelope as request headers; the JSON answer
// carries the action, the score and the symbols. Anything else than a well-formed answer is
// an error: the ingress decides what a missing verdict means (fail open or closed).

import { createHttp1Post } from './http1-post.ts';
import type { AuthResults } from '../policy/mail-auth-policy.ts';
import type { ContentFilter, ScanEnvelope, ScanResult, SpamAction } from '../ports.ts';

const ACTIONS: ReadonlySet<string> = new Set<SpamAction>(['reject', 'soft reject', 'greylist', 'add header', 'rewrite subject', 'no action']);

export class RspamdError extends Error {
  override name = 'RspamdError';
}

// Header values travel in HTTP headers: control characters become spaces, and UTF-8
// (SMTPUTF8 addresses) goes as its raw octets, which rspamd reads as UTF-8.
// eslint-disable-next-line no-control-regex -- control characters are what is removed
const headerValue = (v: string): string => Buffer.from(v.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 998), 'utf8').toString('latin1');

/**
 * The authentication results as request headers (rspamd 3.4 has no protocol header for them;
 * it keeps every request header for Lua rules, task:get_request_header). Only smtp-ingress
 * talks to rspamd, so these cannot be forged by a client the way a message's own
 * Authentication-Results: can. deploy/rspamd/hopmail.lua turns them into rspamd's own SPF,
 * DKIM, DMARC and ARC symbols. DKIM: pass when any signature passed, else the first result.
 */
function authHeaders(auth: AuthResults): [string, string][] {
  const dkim = auth.dkim.some((d) => d.result === 'pass') ? 'pass' : (auth.dkim[0]?.result ?? 'none');
  return [
    ['Hopmail-SPF', auth.spf.result],
    ['Hopmail-DKIM', dkim],
    ['Hopmail-DMARC', auth.dmarc.policy ? `${auth.dmarc.result} ${auth.dmarc.policy}` : auth.dmarc.result],
    ['Hopmail-ARC', auth.arc.result],
  ];
}

/** The request headers for an envelope (exported for tests). */
export function checkHeaders(envelope: ScanEnvelope, options: { settingsId?: string } = {}): [string, string][] {
  const h: [string, string][] = [
    ['Queue-Id', envelope.queueId],
    ['IP', envelope.ip],
    ['From', envelope.mailFrom],
  ];
  if (envelope.helo) h.push(['Helo', envelope.helo]);
  if (envelope.hostname) h.push(['Hostname', envelope.hostname]);
  if (envelope.user) h.push(['User', envelope.user]);
  if (options.settingsId) h.push(['Settings-ID', options.settingsId]);
  if (envelope.auth) h.push(...authHeaders(envelope.auth));
  // One Rcpt header per recipient (rspamd reads them all).
  for (const r of envelope.recipients) h.push(['Rcpt', r]);
  return h.map(([k, v]) => [k, headerValue(v)]);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses rspamd's /checkv2 JSON; throws RspamdError on anything malformed. */
export function parseCheckReply(body: unknown): ScanResult {
  if (!isRecord(body)) throw new RspamdError('rspamd answer is not a JSON object');
  const { action, score, required_score: required } = body;
  if (typeof action !== 'string' || !ACTIONS.has(action)) throw new RspamdError(`rspamd answered an unknown action ${JSON.stringify(action)?.slice(0, 64)}`);
  if (typeof score !== 'number' || !Number.isFinite(score)) throw new RspamdError('rspamd answer has no numeric score');
  const symbols: Record<string, number> = {};
  if (isRecord(body.symbols)) {
    for (const [name, s] of Object.entries(body.symbols)) {
      const v = isRecord(s) ? s.score : undefined;
      symbols[name.slice(0, 128)] = typeof v === 'number' && Number.isFinite(v) ? v : 0;
    }
  }
  const messages = isRecord(body.messages) ? body.messages : {};
  const smtpMessage = typeof messages.smtp_message === 'string' ? messages.smtp_message : null;
  const addHeaders: [string, string][] = [];
  const milter = isRecord(body.milter) ? body.milter : {};
  if (isRecord(milter.add_headers)) {
    for (const [name, v] of Object.entries(milter.add_headers)) {
      if (!/^[\x21-\x39\x3b-\x7e]{1,76}$/.test(name)) continue;
      const values = Array.isArray(v) ? v : [v];
      for (const one of values) {
        const value = typeof one === 'string' ? one : isRecord(one) && typeof one.value === 'string' ? one.value : null;
        if (value !== null) addHeaders.push([name, value]);
      }
    }
  }
  return {
    action: action as SpamAction,
    score,
    requiredScore: typeof required === 'number' && Number.isFinite(required) ? required : 0,
    symbols,
    smtpMessage,
    subject: typeof body.subject === 'string' ? body.subject : null,
    addHeaders,
  };
}

export interface RspamdOptions {
  /** Base URL of the normal worker, e.g. http://rspamd:11333. */
  url: string;
  /** Settings-ID for authenticated submission (rspamd's outbound settings), if any. */
  outboundSettingsId?: string;
  /** Only the first this many octets are sent (RSPAMD_MAX_SIZE). */
  maxSize: number;
  password?: string;
  /** PEM CA certificates trusted besides the system roots for an https: url (RSPAMD_CA_FILE). */
  ca?: string;
}

export function createRspamdFilter(options: RspamdOptions): ContentFilter {
  // One connection per scan in flight, no cap (smtp-server's connection limit already bounds
  // the scans, one per SMTP connection). rspamd 3.4's normal worker answers every request with
  // `Connection: close`, so today each scan opens a connection; a proxy or a later rspamd that
  // keeps connections open gets them reused. An https: URL (rspamd behind a TLS proxy) is
  // verified against the default trust store and `ca`; a unix: one (rspamd beside us) makes
  // that per-scan connection a Unix-domain one, cheaper than TCP over loopback.
  // A sane answer is a few KiB; a runaway one is garbage.
  const post = createHttp1Post(new URL(options.url), { ca: options.ca, maxResponseBytes: 4 * 1024 * 1024 });
  return {
    async check(raw, envelope, signal) {
      // One `Rcpt:` line per recipient (fetch would join repeated headers with commas).
      const headers = checkHeaders(envelope, { settingsId: envelope.user ? options.outboundSettingsId : undefined });
      if (options.password) headers.push(['Password', options.password]);
      const body = raw.length > options.maxSize ? raw.subarray(0, options.maxSize) : raw;
      const { status, body: answer } = await post('/checkv2', headers, body, signal);
      const text = answer.toString('utf8');
      if (status !== 200) throw new RspamdError(`rspamd answered HTTP ${status}: ${text.slice(0, 200)}`);
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new RspamdError(`rspamd answered no JSON: ${JSON.stringify(text.slice(0, 64))}`);
      }
      return parseCheckReply(json);
    },
  };
}
