// What rspamd's answer (or its absence) means for the reply and the stored message. Pure:
// spam-policy.test.ts runs the table. Never a 5xx because the filter was unavailable.

import type { ScanResult } from '../ports.ts';
import { ACCEPT, defer, reject, type Verdict } from './verdict.ts';

/** Stored with the message (messages.spam) and shown by the admin API's search and trace. */
export type SpamRecord =
  | { checked: true; action: ScanResult['action']; score: number; required: number; symbols: Record<string, number> }
  | { checked: false; reason: 'unavailable' };

/** rspamd's verdict files the message in \Junk (the delivery trigger's test, migrations 0021, 0025). */
export function junkVerdict(record: unknown): boolean {
  const r = record as SpamRecord | null | undefined;
  return r?.checked === true && (r.action === 'add header' || r.action === 'rewrite subject');
}

export type SpamInput = { kind: 'scanned'; result: ScanResult } | { kind: 'unavailable' };

export interface SpamDecision {
  verdict: Verdict;
  /** Submission only: commit the message with its recipients held (never relayed) and refuse. */
  hold: boolean;
  /** Header fields to add at the top, CRLF-terminated ('' for none). */
  headers: string;
  /** The new Subject: (rewrite subject), or null. */
  subject: string | null;
  record: SpamRecord;
}

// The client's line stays one safe line: rspamd's text comes from its configuration and rules.
const smtpText = (s: string | null, fallback: string): string => {
  const t = (s ?? '').replace(/[^\x20-\x7e]/g, ' ').trim().slice(0, 200);
  return t || fallback;
};

const fmt = (n: number) => n.toFixed(2);

export function spamPolicy(input: SpamInput, options: { failOpen: boolean; submission: boolean; queueId: string }): SpamDecision {
  if (input.kind === 'unavailable') {
    const record: SpamRecord = { checked: false, reason: 'unavailable' };
    if (!options.failOpen) return { verdict: defer(451, '4.7.1', 'Content filter unavailable, try again later', 'spam-filter-unavailable'), hold: false, headers: '', subject: null, record };
    return { verdict: ACCEPT, hold: false, headers: 'X-Spam-Status: unchecked\r\n', subject: null, record };
  }
  const r = input.result;
  const record: SpamRecord = { checked: true, action: r.action, score: r.score, required: r.requiredScore, symbols: r.symbols };
  const none = { headers: '', subject: null, record, hold: false };
  switch (r.action) {
    case 'reject':
      if (options.submission) {
        return { ...none, hold: true, verdict: reject(550, '5.7.1', `Message refused as spam and held for the postmaster (queue id ${options.queueId})`, 'spam-outbound') };
      }
      return { ...none, verdict: reject(550, '5.7.1', smtpText(r.smtpMessage, 'Message refused as spam'), 'spam') };
    case 'soft reject':
      return { ...none, verdict: defer(451, '4.7.1', smtpText(r.smtpMessage, 'Try again later'), 'spam-soft-reject') };
    case 'greylist':
      return { ...none, verdict: defer(451, '4.7.1', smtpText(r.smtpMessage, 'Greylisted, try again later'), 'spam-greylist') };
    case 'add header':
    case 'rewrite subject':
    case 'no action': {
      const spam = r.action !== 'no action';
      const top = spam ? 8 : 0;
      const symbols = Object.keys(r.symbols)
        .sort((a, b) => (r.symbols[b] ?? 0) - (r.symbols[a] ?? 0))
        .slice(0, 24 + top)
        .join(',');
      let headers =
        `X-Spam-Status: ${spam ? 'Yes' : 'No'}, score=${fmt(r.score)} required=${fmt(r.requiredScore)}\r\n` +
        `X-Spam-Action: ${r.action}\r\n`;
      if (spam) headers += 'X-Spam-Flag: YES\r\n';
      if (symbols) headers += `X-Spam-Symbols: ${symbols}\r\n`;
      for (const [name, value] of r.addHeaders) {
        // Only X-Spam* fields from rspamd, never a second copy of ours.
        if (!/^X-Spam/i.test(name) || /^X-Spam-(Status|Action|Flag|Symbols)$/i.test(name)) continue;
        headers += `${name}: ${value.replace(/[\r\n]+/g, ' ').slice(0, 900)}\r\n`;
      }
      const subject = r.action === 'rewrite subject' && r.subject !== null ? r.subject.replace(/[\r\n]+/g, ' ') : null;
      return { verdict: ACCEPT, hold: false, headers, subject, record };
    }
  }
}

/** Replaces the first Subject: field of the header section (adds one when there is none). */
export function rewriteSubject(raw: Buffer, subject: string): Buffer {
  const end = raw.indexOf('\r\n\r\n');
  const head = (end < 0 ? raw : raw.subarray(0, end + 2)).toString('latin1');
  const m = /(^|\r\n)Subject:[^\r\n]*(\r\n[ \t][^\r\n]*)*/i.exec(head);
  const field = Buffer.from(`Subject: ${subject}`, 'utf8');
  if (!m) return Buffer.concat([field, Buffer.from('\r\n'), raw]);
  const start = m.index + m[1]!.length;
  const stop = m.index + m[0].length;
  return Buffer.concat([raw.subarray(0, start), field, raw.subarray(stop)]);
}
