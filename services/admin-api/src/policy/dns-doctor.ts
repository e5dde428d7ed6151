// The DNS doctor (pure): the records an operator must publish for a domain Hopmail serves,
// and whether what DNS answers matches. Lenient where DNS allows several right answers (an
// SPF record with more terms than ours, a stricter DMARC policy), strict where one wrong
// character breaks mail (a DKIM key).
import { dkimRecordName, dkimRecordValue, type DkimAlgorithm } from '@hopmail/sender-auth';
import { ourStsPolicy, type OurStsSettings } from './mta-sts-policy.ts';

export type RecordKind = 'mx' | 'spf' | 'dkim' | 'dmarc' | 'mta-sts' | 'tls-rpt';

export interface ExpectedRecord {
  kind: RecordKind;
  name: string;
  type: 'MX' | 'TXT';
  /** What to publish. */
  value: string;
  /** Mail works badly without it (MX, SPF, DKIM, DMARC); MTA-STS and TLS-RPT are recommended. */
  required: boolean;
  /** The key behind a DKIM record. */
  selector?: string;
  note?: string;
}

/** A DNS answer as the doctor needs it: the record values (MX as `preference exchange.`). */
export type Answer = { ok: true; values: string[] } | { ok: false; kind: 'nxdomain' | 'nodata' | 'temporary'; code: string };

export type CheckStatus = 'ok' | 'missing' | 'mismatch' | 'unknown';

export interface CheckedRecord extends ExpectedRecord {
  status: CheckStatus;
  /** What DNS holds (the records of the kind looked for, or all TXT when none is); null when nothing. */
  found: string[] | null;
  detail?: string;
}

export interface DoctorSettings {
  /** MAIL_HOSTNAME: where MX records must point. */
  mailHostname: string;
  /** DNS_DOCTOR_SPF */
  spf: string;
  /** DNS_DOCTOR_DMARC, `{domain}` replaced */
  dmarc: string;
  /** MTA_STS_MODE, MTA_STS_MAX_AGE: the policy admin-api serves. */
  mtaSts: Omit<OurStsSettings, 'mailHostname'>;
  /** DNS_DOCTOR_TLSRPT with `{tlsrpt}` replaced by TLSRPT_LOCAL_PART; `{domain}` is replaced here */
  tlsRpt: string;
}

export interface PublishedKey {
  selector: string;
  algorithm: DkimAlgorithm;
  publicKey: string;
  status: string;
}

const dot = (h: string) => h.toLowerCase().replace(/\.$/, '');

export function expectedRecords(domain: string, s: DoctorSettings, keys: readonly PublishedKey[]): ExpectedRecord[] {
  const records: ExpectedRecord[] = [
    { kind: 'mx', name: domain, type: 'MX', value: `10 ${dot(s.mailHostname)}.`, required: true },
    { kind: 'spf', name: domain, type: 'TXT', value: s.spf, required: true, note: 'one SPF record per name (RFC 7208 §4.5); other terms may be added' },
  ];
  for (const k of keys) {
    records.push({
      kind: 'dkim', name: dkimRecordName(k.selector, domain), type: 'TXT', value: dkimRecordValue(k.algorithm, k.publicKey), required: true, selector: k.selector,
      note: k.status === 'pending' ? 'publish before activating the key' : k.status === 'retiring' ? 'keep until its retirement: mail signed with it may still be in transit' : undefined,
    });
  }
  records.push(
    { kind: 'dmarc', name: `_dmarc.${domain}`, type: 'TXT', value: s.dmarc.replaceAll('{domain}', domain), required: true, note: 'a stricter p= than proposed passes too' },
    {
      kind: 'mta-sts', name: `_mta-sts.${domain}`, type: 'TXT', value: `v=STSv1; id=${ourStsPolicy({ ...s.mtaSts, mailHostname: s.mailHostname }).id}`, required: false,
      note: `MTA-STS (RFC 8461): also point mta-sts.${domain} (A/AAAA or CNAME, with a certificate for that name) at an HTTPS proxy that passes https://mta-sts.${domain}/.well-known/mta-sts.txt to admin-api's /.well-known/mta-sts.txt; the id changes when the policy does`,
    },
    { kind: 'tls-rpt', name: `_smtp._tls.${domain}`, type: 'TXT', value: s.tlsRpt.replaceAll('{domain}', domain), required: false, note: "TLS reporting (RFC 8460): where senders report TLS failures; an https: rua may point at admin-api's POST /tlsrpt" },
  );
  return records.map((r) => (r.note === undefined ? (({ note: _n, ...rest }) => rest)(r) : r));
}

/** `k=v; k=v` → map with lower-case keys; whitespace folded away (RFC 6376 §3.2). */
export function tags(record: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of record.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) m.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).replace(/\s+/g, '').trim());
  }
  return m;
}

const DMARC_STRENGTH: Record<string, number> = { none: 0, quarantine: 1, reject: 2 };

export function checkRecord(e: ExpectedRecord, a: Answer, mailHostname: string): CheckedRecord {
  if (!a.ok) {
    if (a.kind === 'temporary') return { ...e, status: 'unknown', found: null, detail: `DNS lookup failed (${a.code}); try again` };
    return { ...e, status: 'missing', found: null };
  }
  const done = (status: CheckStatus, found: string[] | null, detail?: string): CheckedRecord => ({ ...e, status, found, ...(detail ? { detail } : {}) });
  switch (e.kind) {
    case 'mx': {
      if (!a.values.length) return done('missing', null);
      const ours = a.values.some((v) => dot(v.split(/\s+/).at(-1) ?? '') === dot(mailHostname));
      return ours ? done('ok', a.values) : done('mismatch', a.values, `no MX points at ${dot(mailHostname)}`);
    }
    case 'spf': {
      const spf = a.values.filter((v) => /^v=spf1(\s|$)/i.test(v.trim()));
      if (!spf.length) return done('missing', a.values.length ? a.values : null);
      if (spf.length > 1) return done('mismatch', spf, 'several SPF records: a permerror for every receiver (RFC 7208 §4.5)');
      const have = new Set(spf[0]!.trim().toLowerCase().split(/\s+/));
      const lacking = e.value.trim().toLowerCase().split(/\s+/).filter((t) => !have.has(t) && !(/^[-~]all$/.test(t) && (have.has('-all') || have.has('~all'))));
      return lacking.length ? done('mismatch', spf, `lacks ${lacking.join(' ')}`) : done('ok', spf);
    }
    case 'dkim': {
      const keys = a.values.filter((v) => tags(v).has('p'));
      if (!keys.length) return done('missing', a.values.length ? a.values : null);
      const want = tags(e.value);
      const same = keys.some((v) => {
        const t = tags(v);
        return t.get('p') === want.get('p') && (t.get('k') ?? 'rsa').toLowerCase() === want.get('k') && (t.get('v') ?? 'DKIM1') === 'DKIM1';
      });
      return same ? done('ok', keys) : done('mismatch', keys, keys.length > 1 ? 'several key records, none with this key' : 'another key is published under this selector');
    }
    case 'dmarc': {
      const d = a.values.filter((v) => /^v=DMARC1\s*(;|$)/i.test(v.trim()));
      if (!d.length) return done('missing', a.values.length ? a.values : null);
      if (d.length > 1) return done('mismatch', d, 'several DMARC records: receivers ignore them all (RFC 7489 §6.6.3)');
      const p = tags(d[0]!).get('p')?.toLowerCase() ?? '';
      const want = tags(e.value).get('p')?.toLowerCase() ?? 'none';
      if (!(p in DMARC_STRENGTH)) return done('mismatch', d, 'no valid p= tag');
      return DMARC_STRENGTH[p]! >= DMARC_STRENGTH[want]! ? done('ok', d) : done('mismatch', d, `p=${p} is weaker than the proposed p=${want}`);
    }
    case 'mta-sts': {
      const r = a.values.filter((v) => /^v=STSv1\s*(;|$)/i.test(v.trim()));
      if (!r.length) return done('missing', a.values.length ? a.values : null);
      const id = tags(e.value).get('id');
      return r.length === 1 && tags(r[0]!).get('id') === id ? done('ok', r) : done('mismatch', r, r.length > 1 ? 'several STSv1 records: senders ignore them all (RFC 8461 §3.1)' : `id differs from the served policy's (${id}): senders keep the old policy`);
    }
    case 'tls-rpt': {
      const r = a.values.filter((v) => /^v=TLSRPTv1\s*(;|$)/i.test(v.trim()));
      return r.length ? done('ok', r) : done('missing', a.values.length ? a.values : null);
    }
  }
}
