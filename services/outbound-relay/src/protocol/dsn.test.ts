import { describe, expect, it } from 'vitest';
import { buildDsn, type DsnInput } from './dsn.ts';

const base: DsnInput = {
  action: 'failed',
  reportingMta: 'mx.hopmail.test',
  queueId: '0190f1e2-0000-7000-8000-000000000001',
  arrivalDate: new Date('2026-11-28T10:00:00Z'),
  now: new Date('2026-11-28T10:05:00Z'),
  to: 'alice@hopmail.test',
  messageId: 'dsn.1@mx.hopmail.test',
  boundary: 'BOUNDARY-1',
  recipients: [
    { finalRecipient: 'bob@remote.test', status: '5.1.1', remoteMta: 'mx1.remote.test', diagnostic: '550 5.1.1 No such user', lastAttemptDate: new Date('2026-11-28T10:04:00Z') },
    { finalRecipient: 'carol@remote.test', originalRecipient: 'team@hopmail.test', status: '5.1.2', diagnostic: '550 5.1.2 Host or domain name not found' },
  ],
  originalHeaders: Buffer.from('From: alice@hopmail.test\r\nSubject: hello\r\n'),
};

describe('buildDsn', () => {
  it('is an RFC 3464 multipart/report with all three parts', () => {
    const { raw, body8bit, smtputf8 } = buildDsn(base);
    const s = raw.toString();
    expect(s).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@mx.hopmail.test>\r\nTo: <alice@hopmail.test>\r\n/);
    expect(s).toContain('Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="BOUNDARY-1"');
    expect(s).toContain('Auto-Submitted: auto-replied');
    expect(s).toContain('\r\n--BOUNDARY-1\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n' +
      'Reporting-MTA: dns; mx.hopmail.test\r\nX-Hopmail-Queue-ID: 0190f1e2-0000-7000-8000-000000000001\r\nArrival-Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\n' +
      'Final-Recipient: rfc822; bob@remote.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx1.remote.test\r\nDiagnostic-Code: smtp; 550 5.1.1 No such user\r\nLast-Attempt-Date: Sat, 28 Nov 2026 10:04:00 +0000\r\n\r\n' +
      'Final-Recipient: rfc822; carol@remote.test\r\nOriginal-Recipient: rfc822; team@hopmail.test\r\nAction: failed\r\nStatus: 5.1.2\r\nDiagnostic-Code: X-Hopmail; 550 5.1.2 Host or domain name not found\r\n');
    expect(s).toContain('Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 8bit\r\n\r\nFrom: alice@hopmail.test\r\nSubject: hello\r\n');
    expect(s.endsWith('\r\n--BOUNDARY-1--\r\n')).toBe(true);
    expect(s.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(body8bit).toBe(false);
    expect(smtputf8).toBe(false);
  });

  it('delayed DSNs say so and carry Will-Retry-Until', () => {
    const s = buildDsn({ ...base, action: 'delayed', willRetryUntil: new Date('2026-12-03T10:00:00Z') }).raw.toString();
    expect(s).toContain('Subject: Delayed Mail (still being retried)');
    expect(s).toContain('Action: delayed\r\nStatus: 5.1.1');
    expect(s).toContain('Will-Retry-Until: Thu, 03 Dec 2026 10:00:00 +0000');
    expect(s).toContain('THIS IS A WARNING ONLY');
  });

  it('multi-line remote replies become one header line', () => {
    const s = buildDsn({ ...base, recipients: [{ finalRecipient: 'b@r.test', status: '5.7.1', remoteMta: 'mx', diagnostic: '550-5.7.1 one\r\n550 5.7.1 two' }] }).raw.toString();
    expect(s).toContain('Diagnostic-Code: smtp; 550-5.7.1 one 550 5.7.1 two\r\n');
  });

  it('internationalised addresses use utf-8 address type and global delivery status', () => {
    const r = buildDsn({ ...base, to: 'jörg@hopmail.test', recipients: [{ finalRecipient: 'ü@remote.test', status: '5.1.1' }] });
    expect(r.smtputf8).toBe(true);
    expect(r.body8bit).toBe(true);
    expect(r.raw.toString()).toContain('Final-Recipient: utf-8; ü@remote.test');
    expect(r.raw.toString()).toContain('message/global-delivery-status');
  });

  it('refuses an empty recipient list', () => {
    expect(() => buildDsn({ ...base, recipients: [] })).toThrow();
  });
});
