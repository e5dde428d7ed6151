// TLS-RPT end to end: the relay's TLS outcome counters of a finished day become the
// housekeeper's aggregate report, sent to the rua of the destination's _smtp._tls record —
// https: to a receiver on a test CA, which hands it to our own receiver (admin-api POST
// /tlsrpt), and mailto: as a committed multipart/report message — and both parse back.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTlsReport } from '@hopmail/mail';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { startFakeDns, type FakeDns } from '@hopmail/test-kit';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApi, type TestApi } from '../services/admin-api/test/support.ts';
import { startTestHousekeeper, type TestHousekeeper } from '../services/housekeeper/test/support.ts';

let api: TestApi;
let hk: TestHousekeeper;
let dns: FakeDns;
let receiver: Server;
const posted: { type: string; status: number }[] = [];

beforeAll(async () => {
  api = await startTestApi();
  const ca = createSelfSignedCertificate({ names: ['TLS-RPT Test CA'], ca: true });
  const cert = createSelfSignedCertificate({ names: ['127.0.0.71'], issuer: ca });
  const dir = mkdtempSync(join(tmpdir(), 'hopmail-tlsrpt-'));
  writeFileSync(join(dir, 'ca.pem'), ca.cert);
  // The https: rua: passes each report on to admin-api's receiver, answering with its status.
  receiver = createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const type = String(req.headers['content-type']);
      const r = await fetch(`${api.base}/tlsrpt`, { method: 'POST', headers: { 'content-type': type }, body: Buffer.concat(chunks) });
      posted.push({ type, status: r.status });
      res.writeHead(r.status).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.71', r));
  const port = (receiver.address() as AddressInfo).port;
  dns = await startFakeDns({
    host: '127.0.0.72',
    records: [
      { name: '_smtp._tls.dest.example', type: 'TXT', data: `v=TLSRPTv1; rua=https://127.0.0.71:${port}/report,mailto:tls-reports@dest.example` },
      { name: 'quiet.example', type: 'TXT', data: 'v=spf1 -all' },
    ],
  });
  hk = await startTestHousekeeper({
    db: api.db,
    start: false,
    env: {
      DNS_SERVERS: `${dns.host}:${dns.port}`,
      DNS_TIMEOUT_MS: '500',
      DNS_TRIES: '1',
      TLSRPT_SUBMITTER: 'mx.hopmail.test',
      TLSRPT_FROM: 'tlsrpt-sender@hopmail.test',
      TLSRPT_CA_FILE: join(dir, 'ca.pem'),
    },
  });
  // "dest.example" is a local domain of the receiving side (the same database here).
  await api.call('POST', '/v1/domains', { name: 'dest.example' });
  await api.db.pool.query(
    `INSERT INTO mta_sts_policies (domain, policy_id, mode, mx, max_age, body, fetched_at, expires_at, checked_at)
     VALUES ('dest.example', 'p1', 'enforce', '{mx.dest.example}', 86400, E'version: STSv1\\r\\nmode: enforce\\r\\nmx: mx.dest.example\\r\\nmax_age: 86400\\r\\n', now(), now() + interval '1 day', now())`,
  );
  await api.db.pool.query(
    `INSERT INTO tls_outcomes (day, domain, policy_type, policy_string, mx_host, receiving_ip, result_type, count, detail) VALUES
     (current_date - 1, 'dest.example', 'sts', 'p1', 'mx.dest.example', '192.0.2.1', '', 12, NULL),
     (current_date - 1, 'dest.example', 'sts', 'p1', 'mx.dest.example', '192.0.2.1', 'certificate-host-mismatch', 2, 'ERR_TLS_CERT_ALTNAME_INVALID'),
     (current_date - 1, 'quiet.example', 'no-policy-found', '', 'mx.quiet.example', '192.0.2.2', '', 3, NULL),
     (current_date, 'dest.example', 'sts', 'p1', 'mx.dest.example', '192.0.2.1', '', 99, NULL)`,
  );
});

afterAll(async () => {
  await hk?.close();
  await dns?.stop();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  await api?.close();
});

test('yesterday\'s outcomes are reported once, over https: and mailto:, and parse back', { timeout: 60_000 }, async () => {
  const sent = await hk.app.sendTlsReports();
  expect(sent).toEqual([{ domain: 'dest.example', day: expect.any(String), reportId: expect.stringMatching(/@mx\.hopmail\.test$/), rua: [expect.stringMatching(/^https:/), 'mailto:tls-reports@dest.example'], errors: [] }]);
  const reportId = sent![0]!.reportId;

  // https: → our receiver stored it for our domain.
  expect(posted).toEqual([{ type: 'application/tlsrpt+gzip', status: 201 }]);
  const shown = await api.call('GET', '/v1/domains/dest.example/tls-reports');
  expect(shown.json.items).toEqual([expect.objectContaining({ organization: 'Hopmail', reportId, successful: 12, failed: 2 })]);
  const policy = shown.json.items[0].report.policies[0];
  expect(policy.policy).toEqual({ 'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: enforce', 'mx: mx.dest.example', 'max_age: 86400'], 'mx-host': ['mx.dest.example'], 'policy-domain': 'dest.example' });
  expect(policy['failure-details']).toEqual([{ 'result-type': 'certificate-host-mismatch', 'receiving-mx-hostname': 'mx.dest.example', 'receiving-ip': '192.0.2.1', 'failed-session-count': 2 }]);

  // mailto: → a committed message (routing and the relay take it from here), whose attachment parses back.
  const m = await api.db.pool.query<{ raw: Buffer; mail_from: string; address: string; status: string }>(
    `SELECT m.raw, m.mail_from, r.address, r.status FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.mail_from = 'tlsrpt-sender@hopmail.test'`,
  );
  expect(m.rows).toEqual([expect.objectContaining({ address: 'tls-reports@dest.example', status: 'queued' })]);
  const raw = m.rows[0]!.raw.toString();
  expect(raw).toContain('Content-Type: multipart/report; report-type="tlsrpt"');
  const b64 = /Content-Disposition: attachment; filename="[^"]+"\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/.exec(raw)![1]!;
  const parsed = parseTlsReport(Buffer.from(b64.replace(/\r\n/g, ''), 'base64'));
  expect(parsed.reportId).toBe(reportId);
  expect(parsed.domains).toEqual(new Map([['dest.example', { successful: 12, failed: 2 }]]));

  // A domain without a TLS-RPT record is marked done without sending; nothing is sent twice; today waits.
  const rows = await api.db.pool.query(`SELECT domain, sent_at IS NOT NULL AS sent, rua, last_error FROM tls_rpt_sent ORDER BY domain`);
  expect(rows.rows).toEqual([
    { domain: 'dest.example', sent: true, rua: sent![0]!.rua, last_error: null },
    { domain: 'quiet.example', sent: true, rua: [], last_error: null },
  ]);
  expect(await hk.app.sendTlsReports()).toEqual([]);
  expect(posted).toHaveLength(1);
});
