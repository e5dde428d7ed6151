// The public transport-security endpoints: our MTA-STS policy per local domain, and TLS-RPT
// reports received (then shown through /v1).
import { gzipSync } from 'node:zlib';
import { buildTlsReport } from '@hopmail/mail';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi({ MAIL_HOSTNAME: 'mx.hopmail.test', MTA_STS_MODE: 'enforce', MTA_STS_MAX_AGE: '86400', TLSRPT_MAX_BYTES: '4096' });
  await api.call('POST', '/v1/domains', { name: 'ours.example' });
  await api.call('POST', '/v1/domains', { name: 'relayed.example', kind: 'relay' });
});
afterAll(async () => {
  await api?.close();
});

const inject = (o: { method: 'GET' | 'POST'; url: string; headers?: Record<string, string>; payload?: Buffer | string }) => api.app.server().inject(o);

describe('GET /.well-known/mta-sts.txt', () => {
  test('serves the policy for mta-sts.<local domain>, as text/plain, without authentication', async () => {
    const r = await inject({ method: 'GET', url: '/.well-known/mta-sts.txt', headers: { host: 'mta-sts.Ours.Example:443' } });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body).toBe('version: STSv1\r\nmode: enforce\r\nmx: mx.hopmail.test\r\nmax_age: 86400\r\n');
  });

  test.each(['mta-sts.relayed.example', 'mta-sts.unknown.example', 'ours.example', ''])('404 for host %j', async (host) => {
    const r = await inject({ method: 'GET', url: '/.well-known/mta-sts.txt', headers: { host } });
    expect(r.statusCode).toBe(404);
  });

  test('the DNS doctor proposes the TXT record with the id of the served policy', async () => {
    const r = await api.call('GET', '/v1/domains/ours.example/dns');
    const sts = r.json.records.find((x: { kind: string }) => x.kind === 'mta-sts');
    expect(sts.value).toMatch(/^v=STSv1; id=[0-9a-f]{20}$/);
    expect(sts.note).toContain('mta-sts.ours.example');
    expect(r.json.records.find((x: { kind: string }) => x.kind === 'tls-rpt').value).toBe('v=TLSRPTv1; rua=mailto:tls-reports@ours.example');
  });

  test('the proposed TLS-RPT address follows TLSRPT_LOCAL_PART, the address smtp-ingress and routing take reports at', async () => {
    const other = await buildTestApi({ TLSRPT_LOCAL_PART: 'smtp-tls' });
    try {
      await other.call('POST', '/v1/domains', { name: 'ours.example' });
      const r = await other.call('GET', '/v1/domains/ours.example/dns');
      expect(r.json.records.find((x: { kind: string }) => x.kind === 'tls-rpt').value).toBe('v=TLSRPTv1; rua=mailto:smtp-tls@ours.example');
    } finally {
      await other.close();
    }
  });
});

const report = (domains: string[], id = 'r-1') =>
  buildTlsReport({
    organization: 'Big Mail',
    contact: 'noc@big.example',
    reportId: id,
    domain: domains[0]!,
    day: '2026-03-01',
    outcomes: [
      { policyType: 'sts', policyId: 'x', mxHost: 'mx.hopmail.test', receivingIp: '192.0.2.9', resultType: '', count: 40 },
      { policyType: 'sts', policyId: 'x', mxHost: 'mx.hopmail.test', receivingIp: '192.0.2.9', resultType: 'certificate-expired', count: 3 },
    ],
    stsPolicies: new Map(),
  });

describe('POST /tlsrpt', () => {
  test('a gzip report about our domain is stored once, and shown per domain', async () => {
    const body = gzipSync(JSON.stringify(report(['ours.example'])));
    const r1 = await inject({ method: 'POST', url: '/tlsrpt', headers: { 'content-type': 'application/tlsrpt+gzip' }, payload: body });
    expect(r1.statusCode).toBe(201);
    expect(r1.json()).toEqual({ stored: ['ours.example'] });
    const again = await inject({ method: 'POST', url: '/tlsrpt', headers: { 'content-type': 'application/tlsrpt+gzip' }, payload: body });
    expect(again.json()).toEqual({ stored: [] });
    const shown = await api.call('GET', '/v1/domains/ours.example/tls-reports');
    expect(shown.json.items).toEqual([expect.objectContaining({ organization: 'Big Mail', reportId: 'r-1', successful: 40, failed: 3, startAt: '2026-03-01T00:00:00.000Z' })]);
    expect(shown.json.items[0].report['contact-info']).toBe('noc@big.example');
  });

  test('a plain JSON report about someone else\'s domain is accepted and not stored', async () => {
    const r = await inject({ method: 'POST', url: '/tlsrpt', headers: { 'content-type': 'application/tlsrpt+json' }, payload: JSON.stringify(report(['relayed.example'], 'r-2')) });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ stored: [] });
  });

  test.each([
    ['application/tlsrpt+json', '{"organization-name":"x"}', 400, 'not a TLS-RPT report: report-id missing'],
    ['application/tlsrpt+gzip', Buffer.from([0x1f, 0x8b, 0, 0]), 400, undefined],
    ['application/json', '{}', 400, 'body must be application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 §5.4)'],
    ['application/tlsrpt+json', 'x'.repeat(5000), 413, undefined],
    // Small as sent, over TLSRPT_MAX_BYTES once inflated: refused without inflating further.
    ['application/tlsrpt+gzip', gzipSync(JSON.stringify({ ...report(['ours.example'], 'big'), padding: 'x'.repeat(100_000) })), 400, 'not a TLS-RPT report: larger than 4096 bytes uncompressed'],
  ])('refuses %s %#', async (type, payload, status, message) => {
    const r = await inject({ method: 'POST', url: '/tlsrpt', headers: { 'content-type': type }, payload });
    expect(r.statusCode).toBe(status);
    if (message) expect(r.json().error.message).toBe(message);
  });
});
