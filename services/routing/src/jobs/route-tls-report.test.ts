// Integration: mail to the TLS-RPT report address (RFC 8460 §5.3) through the route-message
// handler, against real PostgreSQL and Redis: the report taken and stored once per policy
// domain of ours, what is no report discarded without a DSN, a mailbox of that name served
// as usual, the trace saying what happened.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessage, saveReceivedTlsReport } from '@hopmail/db';
import { buildTlsReport, newMessageId, parseTlsReport, tlsReportMessage } from '@hopmail/mail';
import { baseUrls, createTestDatabase, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import { createLogger, prom } from '@hopmail/service-kit';
import type { Redis } from 'ioredis';
import { createApp, type RoutingApp } from '../app.ts';
import { addAlias, addDomain, addMailbox, copies, recipients, redisFor, testConfig } from '../../test/fixtures.ts';

let db: TestDatabase;
let redis: Redis;
let app: RoutingApp;
const lines: Record<string, unknown>[] = [];

function build(env: Record<string, string> = {}): RoutingApp {
  const config = testConfig({ DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: redisPrefix(), TLSRPT_MAX_BYTES: '65536', ...env });
  const logger = createLogger('routing', 'debug', { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return createApp({ config, logger, registry: new prom.Registry(), pool: db.pool, redis });
}

beforeAll(async () => {
  db = await createTestDatabase();
  redis = redisFor(baseUrls().redisUrl);
  app = build();
  await addDomain(db.pool, 'ours.example');
  await addDomain(db.pool, 'also-ours.example');
  await addDomain(db.pool, 'boxed.example');
  await addMailbox(db.pool, 'alice@ours.example');
  // A real mailbox of the report address's name: it keeps getting its mail.
  await addMailbox(db.pool, 'tls-reports@boxed.example');
  await addAlias(db.pool, 'tls-reports@also-ours.example', ['alice@ours.example']);
});

afterAll(async () => {
  await app?.stop();
  await redis?.quit();
  await db?.drop();
});

let serial = 0;
/** An aggregate report as the housekeeper builds it, about `domain`. */
function report(domain: string, reportId = `2026-01-01.r${++serial}@mx.sender.example`) {
  return {
    reportId,
    json: buildTlsReport({
      organization: 'Sender Org',
      contact: 'tls@sender.example',
      reportId,
      domain,
      day: '2026-01-01',
      outcomes: [
        { policyType: 'sts', policyId: 'p1', mxHost: `mx.${domain}`, receivingIp: '192.0.2.1', resultType: '', count: 40 },
        { policyType: 'sts', policyId: 'p1', mxHost: `mx.${domain}`, receivingIp: '192.0.2.1', resultType: 'certificate-expired', count: 3 },
      ],
      stsPolicies: new Map([['p1', { lines: ['version: STSv1', 'mode: testing'], mx: [`mx.${domain}`] }]]),
    }),
  };
}

/** The housekeeper's mail form (RFC 8460 §5.3) of a gzip body, committed to `to`. */
async function mailReport(to: string[], gzipped: Buffer, domain = 'ours.example', mailFrom = 'reports@sender.example'): Promise<string> {
  const id = newMessageId();
  const raw = tlsReportMessage({ from: mailFrom, to, submitter: 'mx.sender.example', domain, reportId: 'x', day: '2026-01-01', gzipped, messageId: `${id}@sender.example`, date: new Date() });
  await insertMessage(db.pool, { id, raw, mailFrom, recipients: to });
  return id;
}

async function commit(to: string[], raw: string): Promise<string> {
  const id = newMessageId();
  await insertMessage(db.pool, { id, raw: Buffer.from(raw), mailFrom: 'someone@sender.example', recipients: to });
  return id;
}

const stored = async (reportId: string) =>
  (await db.pool.query<{ policy_domain: string; organization: string; successful: number; failed: number }>(
    'SELECT policy_domain, organization, successful, failed FROM tls_reports_received WHERE report_id = $1 ORDER BY policy_domain',
    [reportId],
  )).rows;

const trace = async (id: string) =>
  (await db.pool.query<{ type: string; recipient: string | null; data: Record<string, unknown> }>('SELECT type, recipient, data FROM message_events WHERE message_id = $1 ORDER BY id', [id])).rows;

const logged = (event: string, msgId: string) => lines.filter((l) => l.event === event && l.msgId === msgId);

describe('the TLS-RPT report address', () => {
  it('takes a report mailed to tls-reports@ a domain without a mailbox: stored per policy domain, recipient delivered, the trace says so', async () => {
    const r = report('ours.example');
    const id = await mailReport(['tls-reports@ours.example'], gzipSync(JSON.stringify(r.json)));
    const result = await app.route(id);
    expect(result.dsnJob).toBeNull();
    expect(await stored(r.reportId)).toEqual([{ policy_domain: 'ours.example', organization: 'Sender Org', successful: 40, failed: 3 }]);
    const reply = `250 2.0.0 TLS-RPT report <${r.reportId}> from Sender Org taken for ours.example`;
    expect(await recipients(db.pool, id)).toEqual([expect.objectContaining({ address: 'tls-reports@ours.example', status: 'delivered', last_reply: reply })]);
    expect(await copies(db.pool, id)).toEqual([]);
    expect(await trace(id)).toEqual([
      expect.objectContaining({ type: 'received' }),
      { type: 'routed', recipient: 'tls-reports@ours.example', data: expect.objectContaining({ status: 'delivered', previous: 'queued', reply }) },
    ]);
    expect(logged('routing.tls-report.taken', id)).toEqual([
      expect.objectContaining({ level: 'info', organization: 'Sender Org', reportId: r.reportId, domains: ['ours.example'], ours: ['ours.example'], stored: ['ours.example'] }),
    ]);
    // Run again (a redelivered job): nothing queued, nothing more stored.
    await app.route(id);
    expect(await stored(r.reportId)).toHaveLength(1);
    expect(logged('routing.tls-report.taken', id)).toHaveLength(1);
  });

  it('stores the same report mailed twice once; both messages are taken', async () => {
    const r = report('ours.example');
    const gz = gzipSync(JSON.stringify(r.json));
    const first = await mailReport(['tls-reports@ours.example'], gz);
    const second = await mailReport(['TLS-Reports+resent@ours.example'], gz);
    await app.route(first);
    await app.route(second);
    expect(await stored(r.reportId)).toHaveLength(1);
    expect((await recipients(db.pool, second))[0]).toMatchObject({ status: 'delivered', last_reply: expect.stringMatching(/^250 2\.0\.0 .* taken for ours\.example$/) });
    expect(logged('routing.tls-report.taken', second)).toEqual([expect.objectContaining({ ours: ['ours.example'], stored: [] })]);
    expect(await app.metrics.tlsReports.get()).toMatchObject({ values: expect.arrayContaining([expect.objectContaining({ labels: { result: 'duplicate' }, value: 1 })]) });
  });

  it('is idempotent across a crash between storing the report and writing the recipients, and across two jobs at once', async () => {
    const r = report('ours.example');
    const gz = gzipSync(JSON.stringify(r.json));
    const id = await mailReport(['tls-reports@ours.example'], gz);
    // An earlier attempt stored the report and died before its write.
    await saveReceivedTlsReport(db.pool, parseTlsReport(gz));
    await Promise.all([app.route(id), app.route(id)]);
    expect(await stored(r.reportId)).toHaveLength(1);
    const rows = await recipients(db.pool, id);
    expect(rows).toEqual([expect.objectContaining({ status: 'delivered', last_reply: `250 2.0.0 TLS-RPT report <${r.reportId}> from Sender Org taken for ours.example` })]);
    expect((await trace(id)).filter((e) => e.type === 'routed')).toHaveLength(1);
  });

  it('discards a message that is no report: failed (no DSN), a warning without the body', async () => {
    const id = await commit(['tls-reports@ours.example'], 'From: someone@sender.example\r\nSubject: cheap pills\r\n\r\nsecret-body-text\r\n');
    const result = await app.route(id);
    expect(result.dsnJob).toBeNull();
    const reply = '550 5.6.0 not a TLS-RPT report (RFC 8460): no application/tlsrpt+gzip or application/tlsrpt+json part; discarded';
    expect(await recipients(db.pool, id)).toEqual([expect.objectContaining({ status: 'failed', last_reply: reply })]);
    expect((await trace(id)).at(-1)).toEqual({ type: 'bounced', recipient: 'tls-reports@ours.example', data: expect.objectContaining({ status: 'failed', reply }) });
    const warn = logged('routing.tls-report.invalid', id);
    expect(warn).toEqual([expect.objectContaining({ level: 'warn', rcpts: ['tls-reports@ours.example'], reason: 'no application/tlsrpt+gzip or application/tlsrpt+json part' })]);
    expect(JSON.stringify(lines.filter((l) => l.msgId === id))).not.toContain('secret-body-text');
  });

  it('discards a corrupt gzip and a gzip bomb over TLSRPT_MAX_BYTES (65536 here) without inflating it', async () => {
    const corrupt = await mailReport(['tls-reports@ours.example'], Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]));
    await app.route(corrupt);
    expect((await recipients(db.pool, corrupt))[0]).toMatchObject({ status: 'failed', last_reply: expect.stringMatching(/^550 5\.6\.0 not a TLS-RPT report \(RFC 8460\): not valid gzip: .*; discarded$/) });

    // 8 MiB of JSON-ish spaces in a few KiB: over the cap once uncompressed.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"organization-name":"'), Buffer.alloc(8 << 20, 0x20), Buffer.from('"}')]));
    expect(bomb.length).toBeLessThan(65536);
    const id = await mailReport(['tls-reports@ours.example'], bomb);
    await app.route(id);
    expect((await recipients(db.pool, id))[0]).toMatchObject({ status: 'failed', last_reply: '550 5.6.0 not a TLS-RPT report (RFC 8460): larger than 65536 bytes uncompressed; discarded' });
    expect(logged('routing.tls-report.invalid', id)).toEqual([expect.objectContaining({ reason: 'larger than 65536 bytes uncompressed' })]);

    // An attachment already over the cap before gunzip.
    const big = await mailReport(['tls-reports@ours.example'], Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.alloc(70_000, 1)]));
    await app.route(big);
    expect((await recipients(db.pool, big))[0]).toMatchObject({ status: 'failed', last_reply: expect.stringContaining('report attachment larger than 65536 bytes') });
  });

  it('takes a report about a domain that is not ours, stores nothing, and says so', async () => {
    const r = report('elsewhere.example');
    const id = await mailReport(['tls-reports@ours.example'], gzipSync(JSON.stringify(r.json)), 'elsewhere.example');
    await app.route(id);
    expect(await stored(r.reportId)).toEqual([]);
    expect((await recipients(db.pool, id))[0]).toMatchObject({ status: 'delivered', last_reply: `250 2.0.0 TLS-RPT report <${r.reportId}> from Sender Org taken, but about no domain of ours (elsewhere.example): not stored` });
    expect(logged('routing.tls-report.not-ours', id)).toEqual([expect.objectContaining({ level: 'warn', domains: ['elsewhere.example'], ours: [] })]);
  });

  it('also delivers to a real mailbox or alias of that name, as usual, and still takes the report', async () => {
    const r = report('boxed.example');
    const id = await mailReport(['tls-reports@boxed.example', 'tls-reports@also-ours.example'], gzipSync(JSON.stringify(r.json)), 'boxed.example');
    await app.route(id);
    expect(await copies(db.pool, id)).toEqual(['alice@ours.example', 'tls-reports@boxed.example']);
    expect(await stored(r.reportId)).toEqual([expect.objectContaining({ policy_domain: 'boxed.example' })]);
    const rows = await recipients(db.pool, id);
    expect(rows.map((x) => [x.address, x.status, x.last_reply])).toEqual([
      ['tls-reports@boxed.example', 'delivered', `250 2.0.0 TLS-RPT report <${r.reportId}> from Sender Org taken for boxed.example`],
      ['tls-reports@also-ours.example', 'delivered', `250 2.0.0 TLS-RPT report <${r.reportId}> from Sender Org taken for boxed.example`],
    ]);
    // One report, parsed and stored once for the message, however many report addresses it named.
    expect(logged('routing.tls-report.taken', id)).toHaveLength(1);

    // No report, but a mailbox: delivered there as usual, nothing discarded.
    const plain = await commit(['tls-reports@boxed.example'], 'Subject: hello\r\n\r\nA person writing to the reports mailbox.\r\n');
    await app.route(plain);
    expect(await copies(db.pool, plain)).toEqual(['tls-reports@boxed.example']);
    expect((await recipients(db.pool, plain))[0]).toMatchObject({ status: 'delivered', last_reply: '250 2.0.0 delivered; not a TLS-RPT report (no application/tlsrpt+gzip or application/tlsrpt+json part)' });
  });

  it('leaves other recipients of the message alone, and follows TLSRPT_LOCAL_PART', async () => {
    const r = report('ours.example');
    const id = await mailReport(['tls-reports@ours.example', 'alice@ours.example', 'nobody@ours.example'], gzipSync(JSON.stringify(r.json)));
    await app.route(id);
    expect((await recipients(db.pool, id)).map((x) => [x.address, x.status])).toEqual([
      ['tls-reports@ours.example', 'delivered'],
      ['alice@ours.example', 'delivered'],
      ['nobody@ours.example', 'bounced'],
    ]);
    expect(await copies(db.pool, id)).toEqual(['alice@ours.example']);

    const other = build({ TLSRPT_LOCAL_PART: 'smtp-tls' });
    try {
      const r2 = report('ours.example');
      const gz = gzipSync(JSON.stringify(r2.json));
      const a = await mailReport(['smtp-tls@ours.example'], gz);
      const b = await mailReport(['tls-reports@ours.example'], gzipSync(JSON.stringify(report('ours.example').json)));
      await other.route(a);
      await other.route(b);
      expect(await stored(r2.reportId)).toHaveLength(1);
      expect((await recipients(db.pool, b))[0]).toMatchObject({ status: 'bounced', last_reply: '550 5.1.1 <tls-reports@ours.example>: no such user' });
    } finally {
      await other.stop();
    }
  });
});
