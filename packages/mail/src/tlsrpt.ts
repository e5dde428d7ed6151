// SMTP TLS Reporting (RFC 8460), pure: the _smtp._tls TXT record, the aggregate report we
// send (built from the relay's tls_outcomes counters) and the reports others send us (parsed
// and checked before they are stored), the report's mail form (§5.3) and the way back out of
// it (the report attachment of a message sent to our report address).
import { gunzipSync } from 'node:zlib';
import { stripSubaddress } from './address.ts';

/** RFC 8460 §3: `v=TLSRPTv1; rua=mailto:a@b,https://c/d`. Not exactly one record: no reporting. */
export function parseTlsRptTxt(records: readonly string[]): { rua: string[] } | null {
  const mine = records.filter((r) => /^v=TLSRPTv1\s*(;|$)/.test(r));
  if (mine.length !== 1) return null;
  for (const field of mine[0]!.split(';').slice(1)) {
    const m = /^\s*rua\s*=\s*(.*?)\s*$/.exec(field);
    if (!m) continue;
    const rua = m[1]!.split(',').map((u) => u.trim()).filter((u) => /^mailto:[^@\s]+@[^@\s]+$/i.test(u) || /^https:\/\/\S+$/i.test(u));
    return rua.length ? { rua } : null;
  }
  return null;
}

/** One counter row of tls_outcomes, as the report builder reads it. */
export interface OutcomeCount {
  policyType: 'sts' | 'tlsa' | 'no-policy-found';
  /** MTA-STS: the policy id; '' otherwise. */
  policyId: string;
  mxHost: string;
  receivingIp: string;
  /** '' for success. */
  resultType: string;
  count: number;
}

export interface ReportInput {
  organization: string;
  contact: string;
  reportId: string;
  domain: string;
  /** UTC day, YYYY-MM-DD: the report covers 00:00:00Z to 23:59:59Z. */
  day: string;
  outcomes: readonly OutcomeCount[];
  /** MTA-STS policy per id: its lines (policy-string) and MX patterns. */
  stsPolicies: ReadonlyMap<string, { lines: string[]; mx: string[] }>;
}

/** The JSON report of RFC 8460 §4.4 for one policy domain and one day. */
export function buildTlsReport(r: ReportInput): object {
  const groups = new Map<string, OutcomeCount[]>();
  for (const o of r.outcomes) {
    const k = `${o.policyType}\u0000${o.policyId}`;
    groups.set(k, [...(groups.get(k) ?? []), o]);
  }
  return {
    'organization-name': r.organization,
    'date-range': { 'start-datetime': `${r.day}T00:00:00Z`, 'end-datetime': `${r.day}T23:59:59Z` },
    'contact-info': r.contact,
    'report-id': r.reportId,
    policies: [...groups.values()].map((rows) => {
      const { policyType, policyId } = rows[0]!;
      const sts = policyType === 'sts' ? r.stsPolicies.get(policyId) : undefined;
      const failures = new Map<string, { 'result-type': string; 'receiving-mx-hostname': string; 'receiving-ip'?: string; 'failed-session-count': number }>();
      let ok = 0;
      let failed = 0;
      for (const o of rows) {
        if (o.resultType === '') {
          ok += o.count;
          continue;
        }
        failed += o.count;
        const k = `${o.resultType}\u0000${o.mxHost}\u0000${o.receivingIp}`;
        const f = failures.get(k) ?? { 'result-type': o.resultType, 'receiving-mx-hostname': o.mxHost, ...(o.receivingIp ? { 'receiving-ip': o.receivingIp } : {}), 'failed-session-count': 0 };
        f['failed-session-count'] += o.count;
        failures.set(k, f);
      }
      return {
        policy: {
          'policy-type': policyType,
          ...(sts ? { 'policy-string': sts.lines, 'mx-host': sts.mx } : {}),
          'policy-domain': r.domain,
        },
        summary: { 'total-successful-session-count': ok, 'total-failure-session-count': failed },
        ...(failures.size ? { 'failure-details': [...failures.values()] } : {}),
      };
    }),
  };
}

export interface ParsedReport {
  organization: string;
  reportId: string;
  start: Date;
  end: Date;
  /** policy-domain → totals */
  domains: Map<string, { successful: number; failed: number }>;
  report: Record<string, unknown>;
}

export class TlsReportError extends Error {
  override name = 'TlsReportError';
}

const MAX_REPORT_BYTES = 10 * 1024 * 1024;

/**
 * A report as received (gzip or plain JSON), checked against RFC 8460 §4.4. Throws TlsReportError.
 * `maxBytes` bounds the JSON text, also once uncompressed: gunzip stops there (a gzip bomb).
 */
export function parseTlsReport(body: Buffer, opts: { maxBytes?: number } = {}): ParsedReport {
  const maxBytes = opts.maxBytes ?? MAX_REPORT_BYTES;
  let text: Buffer = body;
  if (body[0] === 0x1f && body[1] === 0x8b) {
    try {
      text = gunzipSync(body, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new TlsReportError(`larger than ${maxBytes} bytes uncompressed`);
      throw new TlsReportError(`not valid gzip: ${(err as Error).message}`);
    }
  } else if (body.length > maxBytes) {
    throw new TlsReportError(`larger than ${maxBytes} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch {
    throw new TlsReportError('not JSON');
  }
  const o = json as Record<string, unknown>;
  const str = (v: unknown, what: string) => {
    if (typeof v !== 'string' || v === '') throw new TlsReportError(`${what} missing`);
    return v;
  };
  const count = (v: unknown, what: string) => {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw new TlsReportError(`${what} is not a count`);
    return v as number;
  };
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new TlsReportError('not a JSON object');
  const organization = str(o['organization-name'], 'organization-name');
  const reportId = str(o['report-id'], 'report-id');
  const range = (o['date-range'] ?? {}) as Record<string, unknown>;
  const start = new Date(str(range['start-datetime'], 'date-range.start-datetime'));
  const end = new Date(str(range['end-datetime'], 'date-range.end-datetime'));
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end < start) throw new TlsReportError('bad date-range');
  if (!Array.isArray(o.policies)) throw new TlsReportError('policies missing');
  const domains = new Map<string, { successful: number; failed: number }>();
  for (const [i, p] of (o.policies as Record<string, unknown>[]).entries()) {
    const policy = (p?.policy ?? {}) as Record<string, unknown>;
    const domain = str(policy['policy-domain'], `policies[${i}].policy.policy-domain`).toLowerCase().replace(/\.$/, '');
    const summary = (p?.summary ?? {}) as Record<string, unknown>;
    const t = domains.get(domain) ?? { successful: 0, failed: 0 };
    t.successful += count(summary['total-successful-session-count'], `policies[${i}].summary.total-successful-session-count`);
    t.failed += count(summary['total-failure-session-count'], `policies[${i}].summary.total-failure-session-count`);
    domains.set(domain, t);
  }
  return { organization, reportId, start, end, domains, report: o };
}

/** RFC 8460 §5.3: the report as a mail message (multipart/report, report-type tlsrpt). */
export function tlsReportMessage(o: { from: string; to: string[]; submitter: string; domain: string; reportId: string; day: string; gzipped: Buffer; messageId: string; date: Date }): Buffer {
  const start = Math.floor(Date.parse(`${o.day}T00:00:00Z`) / 1000);
  const end = start + 86_399;
  const file = `${o.submitter}!${o.domain}!${start}!${end}!${o.reportId.replace(/[^A-Za-z0-9._-]/g, '')}.json.gz`;
  const boundary = `tlsrpt-${o.messageId.replace(/[^A-Za-z0-9]/g, '')}`;
  const b64 = o.gzipped.toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    [
      `From: ${o.from}`,
      `To: ${o.to.join(', ')}`,
      `Date: ${o.date.toUTCString().replace('GMT', '+0000')}`,
      `Message-ID: <${o.messageId}>`,
      `Subject: Report Domain: ${o.domain} Submitter: ${o.submitter} Report-ID: <${o.reportId}>`,
      `TLS-Report-Domain: ${o.domain}`,
      `TLS-Report-Submitter: ${o.submitter}`,
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain; charset=us-ascii',
      '',
      `This is an aggregate TLS report (RFC 8460) from ${o.submitter} for ${o.domain}, ${o.day}.`,
      '',
      `--${boundary}`,
      `Content-Type: application/tlsrpt+gzip; name="${file}"`,
      'Content-Transfer-Encoding: base64',
      `Content-Disposition: attachment; filename="${file}"`,
      '',
      b64,
      `--${boundary}--`,
      '',
    ].join('\r\n'),
  );
}

/**
 * Is this envelope recipient the TLS-RPT report address of a domain (`<localPart>@…`, the rua
 * our DNS doctor proposes)? The local part compares case-insensitively, as postmaster does
 * (RFC 5321 §4.5.1), and a subaddress (`tls-reports+tag`, RFC 5233) is the same address.
 * Whether the domain is one of ours is the resolver's business.
 */
export function isTlsReportAddress(address: string, opts: { localPart: string; subaddressDelimiter: string }): boolean {
  const at = address.lastIndexOf('@');
  if (at <= 0 || !opts.localPart) return false;
  const local = address.slice(0, at);
  const want = opts.localPart.toLowerCase();
  return local.toLowerCase() === want || stripSubaddress(local, opts.subaddressDelimiter)?.toLowerCase() === want;
}

const REPORT_TYPES = new Set(['application/tlsrpt+gzip', 'application/tlsrpt+json']);
const MAX_MIME_DEPTH = 10;
const MAX_MIME_PARTS = 200;

interface MimeEntity {
  contentType: string;
  params: Map<string, string>;
  encoding: string;
  body: string;
}

/** Header and body of one entity; `text` is latin1 (one char per octet). */
function entity(text: string): MimeEntity {
  const m = /\r?\n\r?\n/.exec(text);
  const head = m ? text.slice(0, m.index) : text;
  const body = m ? text.slice(m.index + m[0].length) : '';
  const fields = new Map<string, string>();
  for (const line of head.replace(/\r?\n(?=[ \t])/g, '').split(/\r?\n/)) {
    const c = line.indexOf(':');
    if (c > 0) {
      const name = line.slice(0, c).trim().toLowerCase();
      if (!fields.has(name)) fields.set(name, line.slice(c + 1).trim());
    }
  }
  const [type = '', ...rest] = (fields.get('content-type') ?? 'text/plain').split(';');
  const params = new Map<string, string>();
  // RFC 2045 §5.1 parameters: token or quoted-string values.
  for (const p of rest.join(';').matchAll(/([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)/g)) {
    const v = p[2]!;
    params.set(p[1]!.toLowerCase(), v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v);
  }
  return { contentType: type.trim().toLowerCase(), params, encoding: (fields.get('content-transfer-encoding') ?? '7bit').toLowerCase(), body };
}

function decodeBody(e: MimeEntity): Buffer {
  switch (e.encoding) {
    case 'base64':
      return Buffer.from(e.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    case 'quoted-printable': {
      const soft = e.body.replace(/=\r?\n/g, '');
      return Buffer.from(soft.replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    }
    default:
      return Buffer.from(e.body, 'latin1');
  }
}

/** The body parts of a multipart entity (RFC 2046 §5.1.1), without preamble and epilogue. */
function bodyParts(body: string, boundary: string): string[] {
  const esc = boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const delimiter = new RegExp(`(?:^|\\r?\\n)--${esc}(--)?[ \\t]*(?=\\r?\\n|$)`, 'g');
  const parts: string[] = [];
  let start = -1;
  for (const m of body.matchAll(delimiter)) {
    if (start >= 0) parts.push(body.slice(start, m.index).replace(/^\r?\n/, ''));
    if (m[1]) return parts;
    start = m.index + m[0].length;
  }
  // No close delimiter: the last part runs to the end.
  if (start >= 0) parts.push(body.slice(start).replace(/^\r?\n/, ''));
  return parts;
}

/**
 * The report out of a message sent to our report address (RFC 8460 §5.3): the first part
 * whose type is application/tlsrpt+gzip or application/tlsrpt+json — an attachment of the
 * multipart/report (report-type="tlsrpt") as the RFC asks, anywhere in a multipart tree, or
 * the whole body — decoded (base64, quoted-printable). Not uncompressed: parseTlsReport()
 * does that. Bounded: MIME depth and part count, and the decoded report at `maxBytes`.
 * Throws TlsReportError.
 */
export function tlsReportFromMessage(raw: Buffer, opts: { maxBytes: number }): Buffer {
  let parts = 0;
  const walk = (text: string, depth: number): Buffer | null => {
    if (++parts > MAX_MIME_PARTS) throw new TlsReportError(`more than ${MAX_MIME_PARTS} MIME parts`);
    const e = entity(text);
    if (REPORT_TYPES.has(e.contentType)) {
      const body = decodeBody(e);
      if (body.length > opts.maxBytes) throw new TlsReportError(`report attachment larger than ${opts.maxBytes} bytes`);
      return body;
    }
    if (!e.contentType.startsWith('multipart/')) return null;
    const boundary = e.params.get('boundary');
    if (!boundary || depth >= MAX_MIME_DEPTH) return null;
    for (const part of bodyParts(e.body, boundary)) {
      const found = walk(part, depth + 1);
      if (found) return found;
    }
    return null;
  };
  const found = walk(raw.toString('latin1'), 0);
  if (!found) throw new TlsReportError('no application/tlsrpt+gzip or application/tlsrpt+json part');
  return found;
}
