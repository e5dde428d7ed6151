// TLS-RPT by mail end to end (issue #14: "TLS-RPT aggregate report produced and received by a
// fake MX, parsed back by our own receiver"). Two Hopmail installations on two databases:
//   sender:   the housekeeper turns yesterday's TLS outcomes for dest.example into the
//             aggregate report and mails it to the rua of _smtp._tls.dest.example
//             (mailto:tls-reports@dest.example); routing and the outbound relay take it, over
//             SMTP, to dest.example's MX (fake DNS) —
//   receiver: a Hopmail smtp-ingress, port 25 path, where dest.example is local and has no
//             tls-reports mailbox; its routing takes the report, and admin-api's
//             GET /v1/domains/dest.example/tls-reports shows it parsed back.
import { loadConfig } from '@hopmail/config';
import { createLogger, createRegistry } from '@hopmail/service-kit';
import { startFakeDns, waitFor, type FakeDns } from '@hopmail/test-kit';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApi, type TestApi } from '../services/admin-api/test/support.ts';
import { startTestHousekeeper, type TestHousekeeper } from '../services/housekeeper/test/support.ts';
import { createApp as createRelay, type RelayApp } from '../services/outbound-relay/src/app.ts';
import { configSchema as relaySchema } from '../services/outbound-relay/src/config.ts';
import { createApp as createRouting, type RoutingApp } from '../services/routing/src/app.ts';
import { configSchema as routingSchema } from '../services/routing/src/config.ts';
import { startIngress, type TestIngress } from '../services/smtp-ingress/test/helpers.ts';
import { stripFirstReceived } from './cluster.ts';

const MX_IP = '127.0.0.111';
const DNS_IP = '127.0.0.112';

let receiver: TestApi;
let ingress: TestIngress;
let receiverRouting: RoutingApp;
let sender: TestHousekeeper;
let senderRouting: RoutingApp;
let relay: RelayApp;
let dns: FakeDns;

function routing(db: { url: string; pool: TestApi['db']['pool'] }, redis: TestApi['redis'], prefix: string): RoutingApp {
  const config = loadConfig('routing', routingSchema, { env: { DATABASE_URL: db.url, REDIS_PREFIX: prefix, LOG_LEVEL: 'silent', DIRECTORY_CACHE_MS: '0', RECONCILE_INTERVAL_MS: '3600000' }, argv: [] });
  return createRouting({ config, logger: createLogger('routing', 'silent'), registry: createRegistry('routing'), pool: db.pool, redis });
}

beforeAll(async () => {
  // The receiving side: admin-api, smtp-ingress on dest.example's MX address, routing.
  receiver = await startTestApi();
  expect((await receiver.call('POST', '/v1/domains', { name: 'dest.example' })).status).toBe(201);
  ingress = await startIngress({ db: receiver.db, prefix: receiver.prefix, env: { SMTP_HOST: MX_IP, SMTP_HOSTNAME: 'mx.dest.example' } });
  receiverRouting = routing(receiver.db, receiver.redis, receiver.prefix);
  await receiverRouting.start();

  // The sending side: its own database; DNS says where dest.example's reports and mail go.
  dns = await startFakeDns({
    host: DNS_IP,
    records: [
      { name: 'example', type: 'SOA', data: { mname: 'ns.example', rname: 'hostmaster.example', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 } },
      { name: 'dest.example', type: 'MX', data: { preference: 10, exchange: 'mx.dest.example' } },
      { name: 'mx.dest.example', type: 'A', data: MX_IP },
      { name: '_smtp._tls.dest.example', type: 'TXT', data: 'v=TLSRPTv1; rua=mailto:tls-reports@dest.example' },
    ],
  });
  const dnsEnv = { DNS_SERVERS: `${dns.host}:${dns.port}`, DNS_TIMEOUT_MS: '500', DNS_TRIES: '1' };
  sender = await startTestHousekeeper({ start: false, env: { ...dnsEnv, TLSRPT_SUBMITTER: 'mx.sender.test', TLSRPT_FROM: 'tlsrpt-sender@sender.test' } });
  senderRouting = routing(sender.db, sender.redis, sender.prefix);
  await senderRouting.start();
  const relayConfig = loadConfig('outbound-relay', relaySchema, {
    argv: [],
    env: {
      DATABASE_URL: sender.db.url,
      REDIS_PREFIX: sender.prefix,
      LOG_LEVEL: 'silent',
      ...dnsEnv,
      RELAY_HOSTNAME: 'mx.sender.test',
      RELAY_PORT: String(ingress.port),
      RELAY_ALLOW_LOOPBACK_MX: 'true',
      RELAY_SCHEDULER_INTERVAL_MS: '100',
      RELAY_CONNECT_TIMEOUT_MS: '2000',
      RELAY_GREETING_TIMEOUT_MS: '2000',
      RELAY_SOCKET_TIMEOUT_MS: '5000',
    },
  });
  relay = createRelay({ config: relayConfig, logger: createLogger('outbound-relay', 'silent'), registry: createRegistry('outbound-relay'), pool: sender.db.pool, redis: sender.redis });
  await relay.start();
  // What the sender's relay counted yesterday about delivering to dest.example.
  await sender.db.pool.query(
    `INSERT INTO tls_outcomes (day, domain, policy_type, policy_string, mx_host, receiving_ip, result_type, count, detail) VALUES
     (current_date - 1, 'dest.example', 'no-policy-found', '', 'mx.dest.example', '${MX_IP}', '', 12, NULL),
     (current_date - 1, 'dest.example', 'no-policy-found', '', 'mx.dest.example', '${MX_IP}', 'starttls-not-supported', 2, NULL)`,
  );
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  await senderRouting?.stop();
  await sender?.close();
  await dns?.stop();
  await receiverRouting?.stop();
  await ingress?.stop();
  await receiver?.close();
});

test('the report our housekeeper mails is received by our own MX over SMTP, taken by routing and shown per domain', { timeout: 60_000 }, async () => {
  const sent = await sender.app.sendTlsReports();
  expect(sent).toEqual([{ domain: 'dest.example', day: expect.any(String), reportId: expect.stringMatching(/@mx\.sender\.test$/), rua: ['mailto:tls-reports@dest.example'], errors: [] }]);
  const reportId = sent![0]!.reportId;

  // Produced and relayed by the sender …
  const out = await waitFor(
    async () => {
      const r = await sender.db.pool.query<{ status: string; last_reply: string | null }>(`SELECT r.status, r.last_reply FROM recipients r JOIN messages m ON m.id = r.message_id WHERE m.mail_from = 'tlsrpt-sender@sender.test'`);
      return r.rows[0]?.status === 'delivered' ? r.rows[0] : undefined;
    },
    { what: 'the report relayed to dest.example', timeoutMs: 30_000 },
  );
  expect(out.last_reply).toMatch(/^250 /);

  // … received on port 25 by the receiver's smtp-ingress without a tls-reports mailbox, and parsed back.
  const shown = await waitFor(
    async () => {
      const r = await receiver.call('GET', '/v1/domains/dest.example/tls-reports');
      return r.json.items.length > 0 ? r.json.items : undefined;
    },
    { what: 'the report in GET /v1/domains/dest.example/tls-reports', timeoutMs: 30_000 },
  );
  expect(shown).toEqual([expect.objectContaining({ organization: 'Hopmail', reportId, policyDomain: 'dest.example', successful: 12, failed: 2 })]);
  expect(shown[0].report.policies[0]['failure-details']).toEqual([
    { 'result-type': 'starttls-not-supported', 'receiving-mx-hostname': 'mx.dest.example', 'receiving-ip': MX_IP, 'failed-session-count': 2 },
  ]);
  expect(ingress.logs.filter((l) => l.event === 'smtp-ingress.tls-report-accepted').map((l) => l.to)).toEqual(['tls-reports@dest.example']);

  // The receiver's message: came in over SMTP from the sender's relay; its trace says the report was taken.
  const m = await receiver.db.pool.query<{ id: string; client_helo: string; raw: Buffer }>(`SELECT id, client_helo, raw FROM messages WHERE mail_from = 'tlsrpt-sender@sender.test'`);
  expect(m.rows).toEqual([expect.objectContaining({ client_helo: 'mx.sender.test' })]);
  // routing stores the report before it writes the recipient's status (a retried job stores
  // nothing twice): the report can be shown a moment before the trace says delivered.
  const trace = await waitFor(
    async () => {
      const t = (await receiver.call('GET', `/v1/messages/${m.rows[0]!.id}/trace`)).json;
      return t.message.recipients.every((r: { status: string }) => r.status !== 'queued') ? t : undefined;
    },
    { what: 'the report recipient routed', timeoutMs: 30_000 },
  );
  const reply = `250 2.0.0 TLS-RPT report <${reportId}> from Hopmail taken for dest.example`;
  expect(trace.message.recipients).toEqual([expect.objectContaining({ address: 'tls-reports@dest.example', status: 'delivered' })]);
  expect(trace.events.map((e: { type: string }) => e.type)).toEqual(['received', 'routed']);
  expect(trace.events[1]).toMatchObject({ recipient: 'tls-reports@dest.example', data: { status: 'delivered', reply } });

  // The same report mailed again (nodemailer, port 25): taken, stored once.
  const transport = nodemailer.createTransport({ host: MX_IP, port: ingress.port, secure: false, ignoreTLS: true, name: 'again.sender.test' });
  await transport.sendMail({ envelope: { from: 'tlsrpt-sender@sender.test', to: ['tls-reports@dest.example'] }, raw: stripFirstReceived(m.rows[0]!.raw) });
  transport.close();
  await waitFor(
    async () => {
      const r = await receiver.db.pool.query<{ status: string }>(`SELECT r.status FROM recipients r JOIN messages m ON m.id = r.message_id WHERE m.client_helo = 'again.sender.test'`);
      return r.rows[0]?.status === 'delivered' ? true : undefined;
    },
    { what: 'the second copy routed', timeoutMs: 30_000 },
  );
  expect((await receiver.call('GET', '/v1/domains/dest.example/tls-reports')).json.items).toHaveLength(1);
});
