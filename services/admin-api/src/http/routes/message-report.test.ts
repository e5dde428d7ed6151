// POST /v1/messages/{id}/report against a real rspamd (controller worker, Bayes in a private
// Redis): spam and ham are learned from the stored message; no rspamd configured or rspamd
// down is 503, an unknown message 404. The verdict stored at ingress shows in search/trace.
import { insertMessage } from '@hopmail/db';
import { rspamdUnavailable, startPrivateRedis, startRspamd, type TestRspamd } from '@hopmail/test-kit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../../test/support.ts';

const unavailable = rspamdUnavailable();
if (unavailable) console.warn(`message-report.test.ts: rspamd tests skipped: ${unavailable}`);

const ID = '01900000-0000-7000-8000-0000000000a1';
const raw = (n: number) =>
  Buffer.from(`From: <a@remote.test>\r\nTo: <alice@example.org>\r\nSubject: cheap pills ${n}\r\nMessage-ID: <r${n}@remote.test>\r\n\r\nBuy cheap pills now, number ${n}, limited offer.\r\n`);

describe('message report without rspamd', () => {
  let api: ApiHarness;
  beforeAll(async () => {
    api = await buildTestApi();
    await insertMessage(api.db.pool, { id: ID, raw: raw(0), mailFrom: 'a@remote.test', recipients: ['alice@example.org'], spam: { checked: true, action: 'add header', score: 7.5, required: 15, symbols: { X: 7.5 } } });
  });
  afterAll(async () => api?.close());

  it('search and trace show the stored verdict', async () => {
    const s = await api.call('GET', `/v1/messages?queueId=${ID}`, undefined);
    expect(s.status).toBe(200);
    expect(s.json.items[0].spam).toEqual({ checked: true, action: 'add header', score: 7.5, required: 15, symbols: { X: 7.5 } });
    const t = await api.call('GET', `/v1/messages/${ID}/trace`, undefined);
    expect(t.json.message.spam).toMatchObject({ action: 'add header' });
  });

  it('503 when no rspamd is configured; 400 for another kind', async () => {
    const r = await api.call('POST', `/v1/messages/${ID}/report`, { kind: 'spam' });
    expect(r.status).toBe(503);
    expect(r.json.error.message).toMatch(/RSPAMD_CONTROLLER_URL/);
    expect((await api.call('POST', `/v1/messages/${ID}/report`, { kind: 'eggs' })).status).toBe(400);
  });
});

describe.skipIf(unavailable !== null)('message report to a real rspamd', () => {
  let rspamd: TestRspamd;
  let redis: { url: string; stop(): Promise<void> };
  let api: ApiHarness;
  beforeAll(async () => {
    redis = await startPrivateRedis();
    rspamd = await startRspamd({ redisUrl: redis.url });
    api = await buildTestApi({ RSPAMD_CONTROLLER_URL: rspamd.controllerUrl, RSPAMD_LEARN_TIMEOUT_MS: '5000' });
    for (let i = 1; i <= 2; i++) await insertMessage(api.db.pool, { id: ID.slice(0, -1) + i, raw: raw(i), mailFrom: 'a@remote.test', recipients: ['alice@example.org'] });
  }, 150_000);
  afterAll(async () => {
    await api?.close();
    await rspamd?.stop();
    await redis?.stop();
  });

  it('learns spam and ham from the stored message (Bayes statistics land in Redis), audited', async () => {
    const spam = await api.call('POST', `/v1/messages/${ID.slice(0, -1)}1/report`, { kind: 'spam' });
    expect(spam.status, JSON.stringify(spam.json)).toBe(200);
    expect(spam.json).toEqual({ id: `${ID.slice(0, -1)}1`, kind: 'spam', learned: true, message: 'learned as spam' });
    const ham = await api.call('POST', `/v1/messages/${ID.slice(0, -1)}2/report`, { kind: 'ham' });
    expect(ham.status, JSON.stringify(ham.json)).toBe(200);
    expect(ham.json.learned).toBe(true);
    const r = new Redis(redis.url);
    expect((await r.keys('*')).length).toBeGreaterThan(0);
    r.disconnect();
    // The same message again: rspamd says it already knows it; not an error.
    const again = await api.call('POST', `/v1/messages/${ID.slice(0, -1)}1/report`, { kind: 'spam' });
    expect(again.status).toBe(200);
    expect(again.json.learned).toBe(false);
    const audit = await api.call('GET', '/v1/audit', undefined);
    expect(JSON.stringify(audit.json)).toContain('message.report');
  });

  it('404 for an unknown message; 503 when rspamd is down', async () => {
    expect((await api.call('POST', `/v1/messages/${ID.slice(0, -1)}9/report`, { kind: 'spam' })).status).toBe(404);
    rspamd.kill();
    const r = await api.call('POST', `/v1/messages/${ID.slice(0, -1)}2/report`, { kind: 'spam' });
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('unavailable');
  });
});
