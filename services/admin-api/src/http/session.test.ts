// Console sessions through the whole request path: the cookie's flags, CSRF on changes,
// idle and absolute expiry, a revoked key, a changed admin token, sign-out, the shared
// failed-authentication limit; and the overview endpoint's figures and scope.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApi, TOKEN, type ApiHarness } from '../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi({ ADMIN_AUTH_FAIL_LIMIT: '3', CONSOLE_SESSION_IDLE_S: '600', CONSOLE_SESSION_MAX_S: '3600' });
});
afterAll(async () => api?.close());

/** Signs in and returns the cookie header and the CSRF token. */
async function signIn(token: string, ip?: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const r = await api.call('POST', '/v1/session', { token }, { authorization: '', ...(ip ? { 'x-test-ip': ip } : {}) });
  expect(r.status).toBe(201);
  const setCookie = r.headers.get('set-cookie')!;
  return { cookie: setCookie.split(';')[0]!, csrf: r.json.csrfToken, setCookie };
}
const withCookie = (s: { cookie: string }, extra: Record<string, string> = {}) => ({ authorization: '', cookie: s.cookie, ...extra });

describe('console sessions', () => {
  it('sign-in sets an HttpOnly, SameSite=Strict cookie (not Secure over plain HTTP) with an absolute lifetime', async () => {
    const s = await signIn(TOKEN);
    expect(s.setCookie).toMatch(/^hopmail_session=[A-Za-z0-9_-]{43};/);
    expect(s.setCookie).toMatch(/HttpOnly/);
    expect(s.setCookie).toMatch(/SameSite=Strict/);
    expect(s.setCookie).toMatch(/Max-Age=36\d\d/);
    expect(s.setCookie).not.toMatch(/Secure/);
    const me = await api.call('GET', '/v1/session', undefined, withCookie(s));
    expect(me.json).toMatchObject({ actor: 'bootstrap', scope: 'admin', via: 'session', csrfToken: s.csrf, idleSeconds: 600 });
    // Only the hash is stored.
    const { rows } = await api.db.pool.query('SELECT id_hash FROM console_sessions');
    expect(rows.every((r: { id_hash: Buffer }) => !s.cookie.includes(r.id_hash.toString('base64url')))).toBe(true);
  });

  it('every change made with the cookie needs the CSRF token; reads do not', async () => {
    const s = await signIn(TOKEN);
    expect((await api.call('GET', '/v1/domains', undefined, withCookie(s))).status).toBe(200);
    const refused = await api.call('POST', '/v1/domains', { name: 'csrf.test' }, withCookie(s));
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toMatch(/X-CSRF-Token/);
    expect((await api.call('POST', '/v1/domains', { name: 'csrf.test' }, withCookie(s, { 'x-csrf-token': 'wrong' }))).status).toBe(403);
    expect((await api.call('POST', '/v1/domains', { name: 'csrf.test' }, withCookie(s, { 'x-csrf-token': s.csrf }))).status).toBe(201);
    expect((await api.call('DELETE', '/v1/domains/csrf.test', undefined, withCookie(s))).status).toBe(403);
    // A bearer token needs no CSRF token (a browser never sends one by itself).
    expect((await api.call('DELETE', '/v1/domains/csrf.test')).status).toBe(204);
  });

  it('idle and absolute expiry end a session (401, cookie cleared)', async () => {
    const idle = await signIn(TOKEN);
    await api.db.pool.query(`UPDATE console_sessions SET last_seen_at = now() - interval '601 seconds' WHERE last_seen_at > now() - interval '1 minute'`);
    const r = await api.call('GET', '/v1/domains', undefined, withCookie(idle));
    expect(r.status).toBe(401);
    expect(r.json.error.message).toMatch(/session has expired/);
    expect(r.headers.get('set-cookie')).toMatch(/hopmail_session=;/);
    const old = await signIn(TOKEN);
    await api.db.pool.query(`UPDATE console_sessions SET expires_at = now() - interval '1 second'`);
    expect((await api.call('GET', '/v1/domains', undefined, withCookie(old))).status).toBe(401);
  });

  it("a session lasts no longer than its key, keeps the key's scope, and ends at sign-out", async () => {
    const created = await api.call('POST', '/v1/keys', { name: 'ro', scope: 'read-only' });
    const s = await signIn(created.json.key);
    const me = await api.call('GET', '/v1/session', undefined, withCookie(s));
    expect(me.json).toMatchObject({ scope: 'read-only', actor: `key:${created.json.id}` });
    expect((await api.call('POST', '/v1/domains', { name: 'ro.test' }, withCookie(s, { 'x-csrf-token': s.csrf }))).status).toBe(403);
    // A read-only key may still sign itself out; the cookie is dead afterwards.
    const s2 = await signIn(created.json.key);
    expect((await api.call('DELETE', '/v1/session', undefined, withCookie(s2, { 'x-csrf-token': s2.csrf }))).status).toBe(204);
    expect((await api.call('GET', '/v1/session', undefined, withCookie(s2))).status).toBe(401);
    expect((await api.call('DELETE', `/v1/keys/${created.json.id}`)).status).toBe(204);
    expect((await api.call('GET', '/v1/session', undefined, withCookie(s))).status).toBe(401);
  });

  it('wrong tokens at sign-in count against the per-address limit of failed authentications', async () => {
    for (let i = 0; i < 3; i++) expect((await api.call('POST', '/v1/session', { token: `wrong-token-${i}` }, { authorization: '' })).status).toBe(401);
    const blocked = await api.call('POST', '/v1/session', { token: TOKEN }, { authorization: '' });
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBeTruthy();
    await api.redis.del(`${api.prefix}:admin:authfail:127.0.0.1`);
  });

  it('sign-in and sign-out are in the audit log; the token never is', async () => {
    const audit = await api.call('GET', '/v1/audit?action=session.create');
    expect(audit.json.items.length).toBeGreaterThan(0);
    expect(JSON.stringify(audit.json)).not.toContain(TOKEN);
    expect((await api.call('GET', '/v1/audit?action=session.delete')).json.items.length).toBeGreaterThan(0);
  });
});

describe('GET /v1/overview', () => {
  it('counts traffic per minute from the trace (rollup trigger), zero-filled over the hour', async () => {
    await api.db.pool.query(
      `INSERT INTO message_events (message_id, type) SELECT gen_random_uuid(), t FROM unnest(ARRAY['received','received','delivered','delivered-mailbox','deferred','bounced','routed']) AS t`,
    );
    const r = await api.call('GET', '/v1/overview');
    expect(r.status).toBe(200);
    expect(r.json.windowMinutes).toBe(60);
    expect(r.json.traffic).toHaveLength(60);
    expect(r.json.traffic.at(-1)).toMatchObject({ received: 2, delivered: 2, deferred: 1, bounced: 1 });
    expect(r.json.traffic.slice(0, -1).every((m: { received: number }) => m.received === 0)).toBe(true);
    expect(Array.isArray(r.json.queues)).toBe(true);
    expect(Array.isArray(r.json.services)).toBe(true);
  });

  it('is refused to domain-admin keys (it spans every domain)', async () => {
    await api.call('POST', '/v1/domains', { name: 'da.test' });
    const k = await api.call('POST', '/v1/keys', { name: 'da', scope: 'domain-admin', domains: ['da.test'] });
    expect((await api.as(k.json.key)('GET', '/v1/overview')).status).toBe(403);
  });
});
