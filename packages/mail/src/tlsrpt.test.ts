import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildTlsReport, isTlsReportAddress, parseTlsReport, parseTlsRptTxt, TlsReportError, tlsReportFromMessage, tlsReportMessage } from './tlsrpt.ts';

describe('_smtp._tls TXT (RFC 8460 §3)', () => {
  it.each([
    [['v=TLSRPTv1; rua=mailto:tls@example.org'], { rua: ['mailto:tls@example.org'] }],
    [['v=TLSRPTv1;rua=mailto:a@example.org,https://reports.example.org/v1'], { rua: ['mailto:a@example.org', 'https://reports.example.org/v1'] }],
    [['v=spf1 -all', 'v=TLSRPTv1; rua=http://insecure.example/, mailto:b@example.org'], { rua: ['mailto:b@example.org'] }],
    [['v=TLSRPTv1; rua=mailto:a@x.org', 'v=TLSRPTv1; rua=mailto:b@x.org'], null],
    [['v=TLSRPTv1;'], null],
    [[], null],
  ])('%j → %j', (records, want) => expect(parseTlsRptTxt(records)).toEqual(want));
});

const input = {
  organization: 'Hopmail',
  contact: 'postmaster@mx.hopmail.test',
  reportId: '2026-01-01.r1@mx.hopmail.test',
  domain: 'dest.example',
  day: '2026-01-01',
  outcomes: [
    { policyType: 'sts' as const, policyId: 'p1', mxHost: 'mx.dest.example', receivingIp: '192.0.2.1', resultType: '', count: 7 },
    { policyType: 'sts' as const, policyId: 'p1', mxHost: 'mx.dest.example', receivingIp: '192.0.2.1', resultType: 'certificate-expired', count: 2 },
    { policyType: 'no-policy-found' as const, policyId: '', mxHost: 'mx.dest.example', receivingIp: '192.0.2.1', resultType: '', count: 1 },
  ],
  stsPolicies: new Map([['p1', { lines: ['version: STSv1', 'mode: enforce', 'mx: mx.dest.example', 'max_age: 86400'], mx: ['mx.dest.example'] }]]),
};

describe('aggregate report (RFC 8460 §4.4)', () => {
  it('groups sessions by policy, with totals and failure details', () => {
    expect(buildTlsReport(input)).toEqual({
      'organization-name': 'Hopmail',
      'date-range': { 'start-datetime': '2026-01-01T00:00:00Z', 'end-datetime': '2026-01-01T23:59:59Z' },
      'contact-info': 'postmaster@mx.hopmail.test',
      'report-id': '2026-01-01.r1@mx.hopmail.test',
      policies: [
        {
          policy: { 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: enforce', 'mx: mx.dest.example', 'max_age: 86400'], 'mx-host': ['mx.dest.example'], 'policy-domain': 'dest.example' },
          summary: { 'total-successful-session-count': 7, 'total-failure-session-count': 2 },
          'failure-details': [{ 'result-type': 'certificate-expired', 'receiving-mx-hostname': 'mx.dest.example', 'receiving-ip': '192.0.2.1', 'failed-session-count': 2 }],
        },
        { policy: { 'policy-type': 'no-policy-found', 'policy-domain': 'dest.example' }, summary: { 'total-successful-session-count': 1, 'total-failure-session-count': 0 } },
      ],
    });
  });

  it('parses back what it builds, gzip or plain', () => {
    const json = JSON.stringify(buildTlsReport(input));
    for (const body of [gzipSync(json), Buffer.from(json)]) {
      const p = parseTlsReport(body);
      expect(p).toMatchObject({ organization: 'Hopmail', reportId: '2026-01-01.r1@mx.hopmail.test', start: new Date('2026-01-01T00:00:00Z'), end: new Date('2026-01-01T23:59:59Z') });
      expect(p.domains).toEqual(new Map([['dest.example', { successful: 8, failed: 2 }]]));
    }
  });

  it.each([
    [Buffer.from([0x1f, 0x8b, 1, 2, 3]), /^not valid gzip/],
    [Buffer.from('{not json'), /^not JSON$/],
    [Buffer.from('[]'), /^not a JSON object$/],
    [Buffer.from('{}'), /^organization-name missing$/],
    [Buffer.from('{"organization-name":"x","report-id":"r","date-range":{"start-datetime":"2026-01-02T00:00:00Z","end-datetime":"2026-01-01T00:00:00Z"},"policies":[]}'), /^bad date-range$/],
    [Buffer.from('{"organization-name":"x","report-id":"r","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T01:00:00Z"}}'), /^policies missing$/],
    [Buffer.from('{"organization-name":"x","report-id":"r","date-range":{"start-datetime":"2026-01-01T00:00:00Z","end-datetime":"2026-01-01T01:00:00Z"},"policies":[{"policy":{"policy-domain":"a.example"},"summary":{"total-successful-session-count":-1,"total-failure-session-count":0}}]}'), /is not a count$/],
  ])('refuses bad report %#', (body, message) => {
    expect(() => parseTlsReport(body)).toThrow(TlsReportError);
    expect(() => parseTlsReport(body)).toThrow(message);
  });

  it('the mail form (RFC 8460 §5.3): multipart/report tlsrpt with the gzip attachment and its file name', () => {
    const gz = gzipSync('{}');
    const raw = tlsReportMessage({ from: 'reports@ours.example', to: ['tls@dest.example'], submitter: 'mx.hopmail.test', domain: 'dest.example', reportId: 'r1', day: '2026-01-01', gzipped: gz, messageId: 'm1@mx.hopmail.test', date: new Date('2026-01-02T01:00:00Z') }).toString();
    expect(raw).toContain('Subject: Report Domain: dest.example Submitter: mx.hopmail.test Report-ID: <r1>\r\n');
    expect(raw).toContain('TLS-Report-Domain: dest.example\r\nTLS-Report-Submitter: mx.hopmail.test\r\n');
    expect(raw).toMatch(/Content-Type: multipart\/report; report-type="tlsrpt"; boundary="[^"]+"/);
    expect(raw).toContain('filename="mx.hopmail.test!dest.example!1767225600!1767311999!r1.json.gz"');
    expect(raw).toContain(gz.toString('base64'));
  });
});

describe('the report address', () => {
  const opts = { localPart: 'tls-reports', subaddressDelimiter: '+' };
  it.each([
    ['tls-reports@example.org', true],
    ['TLS-Reports@Example.org', true],
    ['tls-reports+google@example.org', true],
    ['tls-reports-x@example.org', false],
    ['tls-reports', false],
    ['x.tls-reports@example.org', false],
    ['postmaster@example.org', false],
  ])('%s: %s', (address, want) => expect(isTlsReportAddress(address, opts)).toBe(want));
  it('follows the configured local part and delimiter', () => {
    expect(isTlsReportAddress('smtp-tls@example.org', { localPart: 'smtp-tls', subaddressDelimiter: '' })).toBe(true);
    expect(isTlsReportAddress('tls-reports+x@example.org', { localPart: 'tls-reports', subaddressDelimiter: '' })).toBe(false);
    expect(isTlsReportAddress('tlsrpt-google@example.org', { localPart: 'tlsrpt', subaddressDelimiter: '-' })).toBe(true);
  });
});

describe('the report out of a message (RFC 8460 §5.3)', () => {
  const json = JSON.stringify(buildTlsReport(input));
  const gz = gzipSync(json);
  const mail = (o: Partial<Parameters<typeof tlsReportMessage>[0]> = {}) =>
    tlsReportMessage({ from: 'reports@sender.example', to: ['tls-reports@dest.example'], submitter: 'mx.sender.example', domain: 'dest.example', reportId: 'r1', day: '2026-01-01', gzipped: gz, messageId: 'm1@sender.example', date: new Date('2026-01-02T01:00:00Z'), ...o });

  it('takes the gzip attachment of the message our own sender builds, and it parses back', () => {
    const body = tlsReportFromMessage(mail(), { maxBytes: 1 << 20 });
    expect(body.equals(gz)).toBe(true);
    expect(parseTlsReport(body).reportId).toBe('2026-01-01.r1@mx.hopmail.test');
  });

  it('finds +json in a nested multipart, quoted-printable, LF line ends; and a report that is the whole body', () => {
    const qp = json.replace(/=/g, '=3D').replace(/(.{70})/g, '$1=\n');
    const nested = [
      'From: a@b.example',
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      'preamble',
      '--outer',
      'Content-Type: text/plain',
      '',
      'hello',
      '--outer',
      'Content-Type: multipart/report;',
      '  report-type="tlsrpt"; boundary="in ner"',
      '',
      '--in ner',
      'Content-Type: Application/TLSRPT+JSON',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      qp,
      '--in ner--',
      '--outer--',
      'epilogue',
      '',
    ].join('\n');
    expect(parseTlsReport(tlsReportFromMessage(Buffer.from(nested), { maxBytes: 1 << 20 })).organization).toBe('Hopmail');
    const whole = Buffer.concat([Buffer.from('Content-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n'), Buffer.from(gz.toString('base64').replace(/.{76}/g, '$&\r\n'))]);
    expect(tlsReportFromMessage(whole, { maxBytes: 1 << 20 }).equals(gz)).toBe(true);
  });

  it('refuses a message without a report part, and a report attachment over the cap', () => {
    expect(() => tlsReportFromMessage(Buffer.from('Subject: hi\r\n\r\nhello\r\n'), { maxBytes: 1 << 20 })).toThrow(/^no application\/tlsrpt\+gzip or application\/tlsrpt\+json part$/);
    expect(() => tlsReportFromMessage(mail(), { maxBytes: 16 })).toThrow(/^report attachment larger than 16 bytes$/);
  });

  it('stops gunzip at the cap: a gzip bomb is refused, not inflated', () => {
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(100_000);
    expect(() => parseTlsReport(bomb, { maxBytes: 1 << 20 })).toThrow(/^larger than 1048576 bytes uncompressed$/);
    expect(() => parseTlsReport(Buffer.from(json), { maxBytes: 10 })).toThrow(/^larger than 10 bytes$/);
  });
});
