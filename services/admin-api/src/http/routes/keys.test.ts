// API keys, scopes and the audit log, through the whole request path (inject, no socket).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../../test/support.ts';

let api: ApiHarness;
let readOnly: string;
let domainAdmin: string;
let domainAdminId: string;

beforeAll(async () => {
  api = await buildTestApi();
  for (const name of ['mine.example', 'other.example']) expect((await api.call('POST', '/v1/domains', { name })).status).toBe(201);
  expect((await api.call('POST', '/v1/mailboxes', { address: 'boss@other.example', password: 'password-1' })).status).toBe(201);
  expect((await api.call('POST', '/v1/aliases', { source: 'x@other.example', targets: ['boss@other.example'] })).status).toBe(201);
  const ro = await api.call('POST', '/v1/keys', { name: 'dashboards', scope: 'read-only' });
  expect(ro.status).toBe(201);
  readOnly = ro.json.key;
  const da = await api.call('POST', '/v1/keys', { name: 'mine admin', scope: 'domain-admin', domains: ['Mine.Example'] });
  expect(da.status).toBe(201);
  domainAdmin = da.json.key;
  domainAdminId = da.json.id;
});
afterAll(async () => {
  await api?.close();
});

describe('keys', () => {
  test('a key is shown once, stored only as its SHA-256', async () => {
    const r = await api.call('POST', '/v1/keys', { name: 'once', scope: 'admin' });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ name: 'once', scope: 'admin', domains: [], createdBy: 'bootstrap', revokedAt: null, prefix: r.json.key.slice(0, 10) });
    expect(r.json.key).toMatch(/^hmk_[A-Za-z0-9_-]{43}$/);
    const row = await api.db.pool.query<{ key_hash: Buffer }>('SELECT key_hash FROM api_keys WHERE id = $1', [r.json.id]);
    expect(row.rows[0]!.key_hash.equals(createHash('sha256').update(r.json.key).digest())).toBe(true);
    const dump = JSON.stringify((await api.db.pool.query('SELECT * FROM api_keys')).rows);
    expect(dump).not.toContain(r.json.key);
    const shown = await api.call('GET', `/v1/keys/${r.json.id}`);
    expect(shown.status).toBe(200);
    expect(shown.json.key).toBeUndefined();
    const list = await api.call('GET', '/v1/keys?limit=2');
    expect(list.json.items).toHaveLength(2);
    expect(list.json.nextCursor).toEqual(expect.any(String));
  });

  test('an admin key works like the bootstrap token and can create keys; revoked keys stop working', async () => {
    const k = (await api.call('POST', '/v1/keys', { name: 'ops', scope: 'admin' })).json;
    const as = api.as(k.key);
    expect((await as('POST', '/v1/domains', { name: 'by-key.example' })).status).toBe(201);
    const sub = await as('POST', '/v1/keys', { name: 'sub', scope: 'read-only' });
    expect(sub.status).toBe(201);
    expect(sub.json.createdBy).toBe(`key:${k.id}`);
    expect((await api.call('DELETE', `/v1/keys/${k.id}`)).status).toBe(204);
    expect((await api.call('DELETE', `/v1/keys/${k.id}`)).status).toBe(204); // harmless again
    const after = await as('GET', '/v1/domains');
    expect(after.status).toBe(401);
    expect(after.json).toEqual({ error: { code: 'unauthorized', message: 'invalid bearer token' } });
  });

  test.each([
    [{ name: 'x', scope: 'domain-admin' }, 'body.domains must list at least one domain for a domain-admin key'],
    [{ name: 'x', scope: 'admin', domains: ['a.example'] }, 'body.domains is only for domain-admin keys'],
    [{ name: 'x', scope: 'root' }, 'body.scope must be one of "admin", "read-only", "domain-admin"'],
    [{ name: 'x', scope: 'domain-admin', domains: ['bad..example'] }, 'body.domains[0] is not a valid domain name'],
  ])('refuses %j', async (body, message) => {
    const r = await api.call('POST', '/v1/keys', body);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe(message);
  });
});

describe('read-only key', () => {
  test('reads everything', async () => {
    const as = api.as(readOnly);
    for (const path of ['/v1/domains', '/v1/domains/other.example', '/v1/mailboxes', '/v1/aliases', '/v1/messages', '/v1/queue/recipients', '/v1/queue/stats', '/v1/queue/domains', '/v1/audit', '/v1/webhooks']) {
      expect((await as('GET', path)).status, path).toBe(200);
    }
  });

  test.each([
    ['POST', '/v1/domains', { name: 'ro.example' }],
    ['DELETE', '/v1/domains/other.example', undefined],
    ['POST', '/v1/mailboxes', { address: 'ro@other.example', password: 'password-1' }],
    ['PATCH', '/v1/mailboxes/boss@other.example', { quotaBytes: 5 }],
    ['DELETE', '/v1/mailboxes/boss@other.example', undefined],
    ['POST', '/v1/aliases', { source: 'ro@other.example', targets: ['boss@other.example'] }],
    ['DELETE', '/v1/aliases/x@other.example', undefined],
    ['POST', '/v1/queue/retry', { filter: { domain: 'other.example' } }],
    ['POST', '/v1/queue/delete', { filter: { domain: 'other.example' } }],
    ['POST', '/v1/keys', { name: 'escalate', scope: 'admin' }],
    ['POST', '/v1/webhooks', { url: 'http://127.0.0.1:1/', events: ['message.received'] }],
  ])('%s %s is 403 and changes nothing', async (method, path, body) => {
    const before = await api.db.pool.query('SELECT (SELECT count(*) FROM domains) d, (SELECT count(*) FROM mailboxes) m, (SELECT count(*) FROM aliases) a, (SELECT count(*) FROM api_keys) k, (SELECT sum(quota_bytes) FROM mailboxes) q');
    const r = await api.as(readOnly)(method, path, body);
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('forbidden');
    const after = await api.db.pool.query('SELECT (SELECT count(*) FROM domains) d, (SELECT count(*) FROM mailboxes) m, (SELECT count(*) FROM aliases) a, (SELECT count(*) FROM api_keys) k, (SELECT sum(quota_bytes) FROM mailboxes) q');
    expect(after.rows).toEqual(before.rows);
  });

  test('cannot see or manage keys', async () => {
    expect((await api.as(readOnly)('GET', '/v1/keys')).status).toBe(403);
  });
});

describe('domain-admin key', () => {
  test('manages mailboxes and aliases of its own domain', async () => {
    const as = api.as(domainAdmin);
    expect((await as('POST', '/v1/mailboxes', { address: 'me@mine.example', password: 'password-1' })).status).toBe(201);
    expect((await as('PATCH', '/v1/mailboxes/me@MINE.example', { quotaBytes: 100 })).status).toBe(200);
    expect((await as('POST', '/v1/aliases', { source: 'al@mine.example', targets: ['me@mine.example', 'someone@elsewhere.example'] })).status).toBe(201);
    expect((await as('GET', '/v1/domains/mine.example')).status).toBe(200);
    expect((await as('DELETE', '/v1/aliases/al@mine.example')).status).toBe(204);
  });

  test('lists show only its domains', async () => {
    const as = api.as(domainAdmin);
    expect((await as('GET', '/v1/domains')).json.items.map((d: { name: string }) => d.name)).toEqual(['mine.example']);
    const mb = (await as('GET', '/v1/mailboxes')).json.items.map((m: { address: string }) => m.address);
    expect(mb).not.toContain('boss@other.example');
    expect((await as('GET', '/v1/aliases')).json.items.every((a: { domain: string }) => a.domain === 'mine.example')).toBe(true);
  });

  test.each([
    ['GET', '/v1/domains/other.example', undefined],
    ['GET', '/v1/mailboxes/boss@other.example', undefined],
    ['GET', '/v1/mailboxes?domain=other.example', undefined],
    ['GET', '/v1/aliases/x@other.example', undefined],
    ['GET', '/v1/queue/recipients?domain=other.example', undefined],
    ['POST', '/v1/mailboxes', { address: 'evil@other.example', password: 'password-1' }],
    ['PATCH', '/v1/mailboxes/boss@other.example', { password: 'takeover-1' }],
    ['DELETE', '/v1/mailboxes/boss@other.example', undefined],
    ['POST', '/v1/aliases', { source: 'grab@other.example', targets: ['me@mine.example'] }],
    ['DELETE', '/v1/aliases/x@other.example', undefined],
    ['POST', '/v1/queue/retry', { filter: { domain: 'other.example' } }],
    ['POST', '/v1/domains', { name: 'new.example' }],
    ['DELETE', '/v1/domains/mine.example', undefined],
    ['POST', '/v1/keys', { name: 'k', scope: 'domain-admin', domains: ['other.example'] }],
    ['GET', '/v1/keys', undefined],
    ['GET', '/v1/audit', undefined],
    ['GET', '/v1/webhooks', undefined],
  ])('%s %s on another domain (or global) is 403', async (method, path, body) => {
    const r = await api.as(domainAdmin)(method, path, body);
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('forbidden');
  });

  test('the other domain is untouched', async () => {
    const r = await api.call('GET', '/v1/mailboxes/boss@other.example');
    expect(r.json.quotaBytes).toBe(0);
    expect((await api.call('GET', '/v1/aliases/x@other.example')).status).toBe(200);
  });
});

describe('audit log', () => {
  test('every change made through the API has an entry: who, what, when; refusals too', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    await api.call('POST', '/v1/domains', { name: 'audited.example' });
    await api.as(domainAdmin)('POST', '/v1/mailboxes', { address: 'a@mine.example', password: 'secret-password-1' });
    await api.as(domainAdmin)('DELETE', '/v1/mailboxes/boss@other.example');
    const r = await api.call('GET', `/v1/audit?since=${encodeURIComponent(since)}`);
    expect(r.status).toBe(200);
    const entries = r.json.items as any[];
    const created = entries.find((e) => e.action === 'domain.create' && e.target === 'audited.example');
    expect(created).toMatchObject({ actor: 'bootstrap', keyId: null, status: 201, remoteIp: '127.0.0.1', at: expect.any(String), requestId: expect.any(String) });
    const mb = entries.find((e) => e.action === 'mailbox.create' && e.target === 'a@mine.example');
    expect(mb).toMatchObject({ actor: `key:${domainAdminId}`, keyId: domainAdminId, status: 201 });
    expect(mb.details.request.password).toBe('[redacted]');
    expect(JSON.stringify(entries)).not.toContain('secret-password-1');
    expect(entries.find((e) => e.action === 'mailbox.delete' && e.target === 'boss@other.example')).toMatchObject({ status: 403, actor: `key:${domainAdminId}` });
  });

  test('covers every changing route of this file: one entry per successful change', async () => {
    const n = await api.db.pool.query<{ action: string; n: string }>(`SELECT action, count(*) n FROM audit_log WHERE status < 300 GROUP BY action`);
    const by = Object.fromEntries(n.rows.map((x) => [x.action, Number(x.n)]));
    for (const a of ['domain.create', 'mailbox.create', 'mailbox.update', 'alias.create', 'alias.delete', 'key.create', 'key.revoke']) expect(by[a], a).toBeGreaterThan(0);
    // GETs are not changes.
    expect(Object.keys(by).some((a) => a.startsWith('GET'))).toBe(false);
  });

  test('pages newest first with a cursor and filters by actor', async () => {
    const p1 = await api.call('GET', '/v1/audit?limit=2');
    const p2 = await api.call('GET', `/v1/audit?limit=2&cursor=${p1.json.nextCursor}`);
    expect(p1.json.items[0].id).toBeGreaterThan(p1.json.items[1].id);
    expect(p2.json.items[0].id).toBeLessThan(p1.json.items[1].id);
    const mine = await api.call('GET', `/v1/audit?actor=key:${domainAdminId}`);
    expect(mine.json.items.length).toBeGreaterThan(0);
    expect(mine.json.items.every((e: any) => e.actor === `key:${domainAdminId}`)).toBe(true);
  });
});
