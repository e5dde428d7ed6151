import { describe, expect, it } from 'vitest';
import { checkHeaders, parseCheckReply } from '../adapters/rspamd.ts';
import type { ScanResult } from '../ports.ts';
import { junkVerdict, rewriteSubject, spamPolicy } from './spam-policy.ts';

const result = (over: Partial<ScanResult>): ScanResult => ({ action: 'no action', score: 1.5, requiredScore: 15, symbols: { A: 1, B: 0.5 }, smtpMessage: null, subject: null, addHeaders: [], ...over });
const mx = { failOpen: true, submission: false, queueId: 'q1' };

describe('spamPolicy', () => {
  it.each([
    ['reject', '550', '5.7.1', 'Spam here', 'spam'],
    ['soft reject', '451', '4.7.1', 'Spam here', 'spam-soft-reject'],
    ['greylist', '451', '4.7.1', 'Spam here', 'spam-greylist'],
  ] as const)('%s → %s %s with rspamd\'s message', (action, code, enhanced, text, reason) => {
    const d = spamPolicy({ kind: 'scanned', result: result({ action, smtpMessage: 'Spam here' }) }, mx);
    expect(d.verdict).toEqual({ kind: code === '550' ? 'reject' : 'defer', code: Number(code), enhanced, text, reason });
    expect(d.hold).toBe(false);
  });

  it('a reject without a message, or with control characters, answers a safe line', () => {
    expect(spamPolicy({ kind: 'scanned', result: result({ action: 'reject' }) }, mx).verdict).toMatchObject({ code: 550, text: 'Message refused as spam' });
    expect(spamPolicy({ kind: 'scanned', result: result({ action: 'reject', smtpMessage: 'bad\r\n250 ok' }) }, mx).verdict).toMatchObject({ text: 'bad  250 ok' });
  });

  it('submission: reject holds the message and refuses it', () => {
    const d = spamPolicy({ kind: 'scanned', result: result({ action: 'reject' }) }, { ...mx, submission: true });
    expect(d.hold).toBe(true);
    expect(d.verdict).toMatchObject({ code: 550, enhanced: '5.7.1', reason: 'spam-outbound' });
  });

  it('no action: a score header, no flag; add header: the flag and rspamd\'s X-Spam fields only', () => {
    const clean = spamPolicy({ kind: 'scanned', result: result({}) }, mx);
    expect(clean.verdict.kind).toBe('accept');
    expect(clean.headers).toBe('X-Spam-Status: No, score=1.50 required=15.00\r\nX-Spam-Action: no action\r\nX-Spam-Symbols: A,B\r\n');
    expect(clean.record).toEqual({ checked: true, action: 'no action', score: 1.5, required: 15, symbols: { A: 1, B: 0.5 } });
    const spam = spamPolicy({ kind: 'scanned', result: result({ action: 'add header', score: 7, addHeaders: [['X-Spam-Level', '*******'], ['X-Spam-Status', 'dup'], ['Received', 'evil']] }) }, mx);
    expect(spam.headers).toContain('X-Spam-Status: Yes, score=7.00');
    expect(spam.headers).toContain('X-Spam-Flag: YES\r\n');
    expect(spam.headers).toContain('X-Spam-Level: *******\r\n');
    expect(spam.headers).not.toContain('dup');
    expect(spam.headers).not.toContain('Received');
  });

  it('rewrite subject gives the new subject', () => {
    expect(spamPolicy({ kind: 'scanned', result: result({ action: 'rewrite subject', subject: '*** SPAM *** hi' }) }, mx).subject).toBe('*** SPAM *** hi');
  });

  it('unavailable: fail-open accepts unchecked, fail-closed defers 451 4.7.1 (never 5xx)', () => {
    const open = spamPolicy({ kind: 'unavailable' }, mx);
    expect(open.verdict.kind).toBe('accept');
    expect(open.headers).toBe('X-Spam-Status: unchecked\r\n');
    expect(open.record).toEqual({ checked: false, reason: 'unavailable' });
    expect(spamPolicy({ kind: 'unavailable' }, { ...mx, failOpen: false }).verdict).toMatchObject({ kind: 'defer', code: 451, enhanced: '4.7.1' });
  });
});

describe('rewriteSubject', () => {
  it('replaces a folded Subject: and keeps the rest byte for byte', () => {
    const raw = Buffer.from('From: a\r\nSubject: old\r\n  folded\r\nTo: b\r\n\r\nSubject: body\r\n');
    expect(rewriteSubject(raw, 'new').toString()).toBe('From: a\r\nSubject: new\r\nTo: b\r\n\r\nSubject: body\r\n');
  });
  it('adds one when there is none', () => {
    expect(rewriteSubject(Buffer.from('From: a\r\n\r\nx'), 'new').toString()).toBe('Subject: new\r\nFrom: a\r\n\r\nx');
  });
});

describe('parseCheckReply (rspamd answering garbage)', () => {
  it.each([
    ['not an object', 'hello'],
    ['an array', []],
    ['unknown action', { action: 'launch', score: 1 }],
    ['score not a number', { action: 'reject', score: 'lots' }],
    ['score infinite', { action: 'reject', score: null }],
  ])('%s is an error', (_name, body) => {
    expect(() => parseCheckReply(body)).toThrow(/rspamd/);
  });

  it('reads action, score, symbols, message, subject and milter headers', () => {
    const r = parseCheckReply({
      action: 'rewrite subject', score: 9.5, required_score: 15, subject: 'S',
      symbols: { X: { name: 'X', score: 2 }, Y: { name: 'Y' } },
      messages: { smtp_message: 'no' },
      milter: { add_headers: { 'X-Spam-Level': { value: '**', order: 0 }, 'bad name': 'v', 'X-Spam-Bar': ['+', { value: '++' }] } },
    });
    expect(r).toEqual({ action: 'rewrite subject', score: 9.5, requiredScore: 15, symbols: { X: 2, Y: 0 }, smtpMessage: 'no', subject: 'S', addHeaders: [['X-Spam-Level', '**'], ['X-Spam-Bar', '+'], ['X-Spam-Bar', '++']] });
  });
});

describe('checkHeaders', () => {
  it('sends the envelope, one Rcpt each, IPv6 as is, and turns control characters into spaces, UTF-8 as raw octets', () => {
    const h = checkHeaders({ queueId: 'q', ip: '2001:db8::1', helo: 'h\r\nX: y', hostname: null, mailFrom: '', recipients: ['a@x', 'é@x'], user: 'u@x' }, { settingsId: 'outbound' });
    expect(h).toEqual([['Queue-Id', 'q'], ['IP', '2001:db8::1'], ['From', ''], ['Helo', 'h  X: y'], ['User', 'u@x'], ['Settings-ID', 'outbound'], ['Rcpt', 'a@x'], ['Rcpt', Buffer.from('é@x', 'utf8').toString('latin1')]]);
  });

  it('sends the authentication results as Hopmail-SPF/-DKIM (any pass)/-DMARC (with the policy)/-ARC', () => {
    const sig = (result: 'pass' | 'fail') => ({ result, domain: 'd.test', selector: 's', algorithm: 'rsa-sha256', aligned: false });
    const auth = {
      authservId: 'mx.test', header: '', dkimSkipped: 0,
      spf: { result: 'softfail' as const, domain: 'd.test', identity: 'mailfrom' as const },
      dkim: [sig('fail'), sig('pass')],
      dmarc: { result: 'fail' as const, domain: 'd.test', policy: 'reject' as const },
      arc: { result: 'none' as const, instance: null },
    };
    const h = checkHeaders({ queueId: 'q', ip: '192.0.2.1', helo: null, hostname: null, mailFrom: 'a@d.test', recipients: [], user: null, auth });
    expect(h.filter(([k]) => k.startsWith('Hopmail-'))).toEqual([['Hopmail-SPF', 'softfail'], ['Hopmail-DKIM', 'pass'], ['Hopmail-DMARC', 'fail reject'], ['Hopmail-ARC', 'none']]);
  });
});

describe('junkVerdict', () => {
  it('rspamd\'s add header and rewrite subject file the message in Junk; nothing else does', () => {
    const v = (action: ScanResult['action']) => ({ checked: true, action, score: 9, required: 6, symbols: {} });
    expect(junkVerdict(v('add header'))).toBe(true);
    expect(junkVerdict(v('rewrite subject'))).toBe(true);
    expect(junkVerdict(v('no action'))).toBe(false);
    expect(junkVerdict({ checked: false, reason: 'unavailable' })).toBe(false);
    expect(junkVerdict(null)).toBe(false);
    expect(junkVerdict(undefined)).toBe(false);
  });
});
