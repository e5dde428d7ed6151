import { createSelfSignedCertificate } from '@hopmail/tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi();
});
afterAll(async () => {
  await api?.close();
});

const FP = 'AB:'.repeat(31) + 'AB';

describe('TLS policy table', () => {
  test('PUT creates (201), PUT again replaces (200), GET shows, DELETE removes', async () => {
    const r1 = await api.call('PUT', '/v1/tls-policies/Bank.Example', { policy: 'encrypt', note: 'contract' });
    expect(r1.status).toBe(201);
    expect(r1.json).toMatchObject({ domain: 'bank.example', policy: 'encrypt', caPem: null, fingerprints: [], note: 'contract' });
    const r2 = await api.call('PUT', '/v1/tls-policies/bank.example', { policy: 'verify', fingerprints: [FP, FP.toLowerCase()] });
    expect(r2.status).toBe(200);
    expect(r2.json).toMatchObject({ policy: 'verify', fingerprints: ['ab'.repeat(32)] });
    const { cert } = createSelfSignedCertificate({ names: ['ca.example'] });
    const r3 = await api.call('PUT', '/v1/tls-policies/partner.example', { policy: 'verify', caPem: cert });
    expect(r3.status).toBe(201);
    const list = await api.call('GET', '/v1/tls-policies');
    expect(list.json.items.map((x: { domain: string }) => x.domain)).toEqual(['bank.example', 'partner.example']);
    expect((await api.call('GET', '/v1/tls-policies/bank.example')).json.policy).toBe('verify');
    expect((await api.call('DELETE', '/v1/tls-policies/bank.example')).status).toBe(204);
    expect((await api.call('GET', '/v1/tls-policies/bank.example')).status).toBe(404);
    expect((await api.call('DELETE', '/v1/tls-policies/bank.example')).status).toBe(404);
    const audit = await api.db.pool.query(`SELECT action, target FROM audit_log WHERE action LIKE 'tls-policy.%' ORDER BY id`);
    expect(audit.rows).toEqual([
      { action: 'tls-policy.put', target: 'bank.example' },
      { action: 'tls-policy.put', target: 'bank.example' },
      { action: 'tls-policy.put', target: 'partner.example' },
      { action: 'tls-policy.delete', target: expect.anything() },
    ]);
  });

  test.each([
    [{ policy: 'strict' }, 'body.policy must be one of "none", "may", "encrypt", "dane", "verify"'],
    [{ policy: 'encrypt', fingerprints: [FP] }, 'body.caPem and body.fingerprints belong to policy "verify" only, not "encrypt"'],
    [{ policy: 'verify', fingerprints: ['abc'] }, 'body.fingerprints[0] is not a SHA-256 fingerprint (64 hex digits, colons allowed)'],
    [{ policy: 'verify', caPem: 'not a certificate' }, 'body.caPem holds no PEM certificate'],
    [{ policy: 'verify', caPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }, 'body.caPem holds a certificate that does not parse'],
  ])('refuses %j with 400', async (body, message) => {
    const r = await api.call('PUT', '/v1/tls-policies/x.example', body);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe(message);
  });
});

describe('TLS outcomes and received reports', () => {
  test('the relay\'s counters for a destination, newest day first', async () => {
    await api.db.pool.query(
      `INSERT INTO tls_outcomes (day, domain, policy_type, mx_host, receiving_ip, result_type, count, detail) VALUES
       (current_date, 'dest.example', 'sts', 'mx.dest.example', '192.0.2.1', '', 5, NULL),
       (current_date, 'dest.example', 'sts', 'mx.dest.example', '192.0.2.1', 'certificate-host-mismatch', 2, 'cert names mx.other'),
       (current_date - 30, 'dest.example', 'sts', 'mx.dest.example', '192.0.2.1', '', 9, NULL)`,
    );
    const r = await api.call('GET', '/v1/tls-outcomes/dest.example');
    expect(r.status).toBe(200);
    expect(r.json.items).toEqual([
      expect.objectContaining({ policyType: 'sts', resultType: '', count: 5 }),
      expect.objectContaining({ resultType: 'certificate-host-mismatch', count: 2, detail: 'cert names mx.other' }),
    ]);
    expect((await api.call('GET', '/v1/tls-outcomes/dest.example?days=60')).json.items).toHaveLength(3);
  });

  test('reports received for one of our domains', async () => {
    await api.call('POST', '/v1/domains', { name: 'ours.example' });
    await api.db.pool.query(
      `INSERT INTO tls_reports_received (organization, report_id, policy_domain, start_at, end_at, successful, failed, report)
       VALUES ('Big Mail', 'r-1', 'ours.example', '2026-01-01Z', '2026-01-02Z', 10, 1, '{"organization-name":"Big Mail"}')`,
    );
    const r = await api.call('GET', '/v1/domains/ours.example/tls-reports');
    expect(r.status).toBe(200);
    expect(r.json.items).toEqual([expect.objectContaining({ organization: 'Big Mail', reportId: 'r-1', successful: 10, failed: 1, report: { 'organization-name': 'Big Mail' } })]);
  });
});
