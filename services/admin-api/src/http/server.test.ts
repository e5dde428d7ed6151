// Cross-cutting behaviour: auth, error shapes, OpenAPI, logging, metrics (through inject(),
// no socket), and shutdown (on a socket).
import { startTcpProxy } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EVENTS } from '../events.ts';
import { buildTestApi, startTestApi, TOKEN, type ApiHarness } from '../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi({ ADMIN_BODY_LIMIT: '2048' });
  await api.call('POST', '/v1/domains', { name: 'srv.example' });
});
afterAll(async () => {
  await api?.close();
});

const ROUTES: [string, string, unknown?][] = [
  ['POST', '/v1/domains', { name: 'auth.example' }],
  ['GET', '/v1/domains'],
  ['GET', '/v1/domains/srv.example'],
  ['DELETE', '/v1/domains/srv.example'],
  ['POST', '/v1/mailboxes', { address: 'a@srv.example', password: 'password-1' }],
  ['GET', '/v1/mailboxes'],
  ['GET', '/v1/mailboxes/a@srv.example'],
  ['PATCH', '/v1/mailboxes/a@srv.example', { quotaBytes: 1 }],
  ['DELETE', '/v1/mailboxes/a@srv.example'],
  ['POST', '/v1/aliases', { source: 'b@srv.example', targets: ['a@srv.example'] }],
  ['GET', '/v1/aliases'],
  ['GET', '/v1/aliases/b@srv.example'],
  ['DELETE', '/v1/aliases/b@srv.example'],
];

describe('bearer auth', () => {
  test.each(ROUTES)('%s %s without a token is 401 with a challenge', async (method, path, body) => {
    const r = await api.call(method, path, body, { authorization: '' });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="hopmail-admin"');
    expect(r.json).toEqual({ error: { code: 'unauthorized', message: 'Authorization: Bearer <ADMIN_TOKEN> required' } });
  });

  test.each([
    ['wrong token', `Bearer ${TOKEN}x`],
    ['prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
    ['other scheme', `Basic ${Buffer.from('admin:' + TOKEN).toString('base64')}`],
    ['token without scheme', TOKEN],
    ['empty bearer', 'Bearer '],
  ])('%s is 401 invalid_token', async (_what, authorization) => {
    const r = await api.call('GET', '/v1/domains', undefined, { authorization });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="hopmail-admin", error="invalid_token"');
    expect(r.json.error).toEqual({ code: 'unauthorized', message: 'invalid bearer token' });
  });

  test('nothing changes when the token is wrong', async () => {
    await api.call('POST', '/v1/domains', { name: 'nochange.example' }, { authorization: 'Bearer nope' });
    expect((await api.call('GET', '/v1/domains/nochange.example')).status).toBe(404);
  });

  test('the scheme is case-insensitive (RFC 7235 §2.1)', async () => {
    expect((await api.call('GET', '/v1/domains', undefined, { authorization: `bearer ${TOKEN}` })).status).toBe(200);
  });

  test('unknown routes need the token too (no route discovery without it)', async () => {
    expect((await api.call('GET', '/v1/secret', undefined, { authorization: '' })).status).toBe(401);
  });
});

describe('error shapes', () => {
  test('unknown route is 404 not_found', async () => {
    const r = await api.call('GET', '/v1/nothing');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { code: 'not_found', message: 'no route GET /v1/nothing' } });
  });

  test('unknown method on a known path is 404', async () => {
    const r = await api.call('PUT', '/v1/domains/srv.example', { name: 'x' });
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('not_found');
  });

  test('a non-JSON body is 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const r = await api.call('POST', '/v1/domains', 'name=x.example', { 'content-type': type });
      expect(r.status).toBe(415);
      expect(r.json).toEqual({ error: { code: 'unsupported_media_type', message: 'request body must be application/json' } });
    }
  });

  test('a body over ADMIN_BODY_LIMIT is 413', async () => {
    const r = await api.call('POST', '/v1/domains', { name: 'big.example', pad: 'x'.repeat(4096) });
    expect(r.status).toBe(413);
    expect(r.json).toEqual({ error: { code: 'payload_too_large', message: 'request body too large' } });
  });

  test('malformed JSON is 400', async () => {
    const r = await api.call('POST', '/v1/domains', '{"name": ');
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 'invalid_request', message: 'body is not valid JSON' } });
  });

  test('an empty JSON body is 400', async () => {
    const r = await api.call('POST', '/v1/domains', '');
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_request');
  });

  test('a missing body is 400', async () => {
    const r = await api.call('POST', '/v1/domains');
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 'invalid_request', message: 'body must be of type object' } });
  });

  test('__proto__ in a body is refused', async () => {
    const r = await api.call('POST', '/v1/domains', '{"name":"p.example","__proto__":{"admin":true}}');
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_request');
  });

  test('an internal error is 500 without internals in the body, and logged', async () => {
    await api.db.pool.query('ALTER TABLE aliases RENAME TO aliases_hidden');
    try {
      const r = await api.call('GET', '/v1/aliases');
      expect(r.status).toBe(500);
      expect(r.json.error.code).toBe('internal');
      expect(r.json.error.message).toMatch(/^internal error \(request req-[\w-]+\)$/);
      expect(JSON.stringify(r.json)).not.toMatch(/aliases|relation|select|stack/i);
      expect(api.logText()).toContain(`"event":"${EVENTS.internalError}"`);
    } finally {
      await api.db.pool.query('ALTER TABLE aliases_hidden RENAME TO aliases');
    }
  });
});

describe('PostgreSQL unreachable', () => {
  test('routes answer 503 unavailable with Retry-After, and recover', async () => {
    const url = new URL(api.db.url);
    const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
    // Point a second app at the same test database through the proxy.
    const { createPool } = await import('@hopmail/db');
    const { createApp } = await import('../app.ts');
    const { configSchema } = await import('../config.ts');
    const { createLogger, createRegistry } = await import('@hopmail/service-kit');
    const pool = createPool(proxy.url(api.db.url), 2, 'proxy-test');
    const app = createApp({
      config: configSchema.parse({ ADMIN_TOKEN: TOKEN, ADMIN_PORT: '0', DATABASE_URL: api.db.url, REDIS_PREFIX: api.prefix }),
      logger: createLogger('admin-api', 'silent'),
      registry: createRegistry('admin-api'),
      pool,
      redis: api.redis,
    });
    try {
      const get = () => app.server().inject({ method: 'GET', url: '/v1/domains/srv.example', headers: { authorization: `Bearer ${TOKEN}` } });
      expect((await get()).statusCode).toBe(200);
      proxy.down();
      const r = await get();
      expect(r.statusCode).toBe(503);
      expect(r.headers['retry-after']).toBe('5');
      expect(r.json()).toEqual({ error: { code: 'unavailable', message: 'the database is unreachable; retry later' } });
      proxy.up();
      expect((await get()).statusCode).toBe(200);
    } finally {
      await app.stop();
      await pool.end();
      await proxy.close();
    }
  });
});

describe('OpenAPI', () => {
  // GET without any Authorization header; `follow` follows redirects as fetch does.
  const anonymous = async (url: string, follow = false) => {
    let res = await api.app.server().inject({ method: 'GET', url });
    for (let hops = 0; follow && hops < 5 && res.statusCode >= 300 && res.statusCode < 400; hops++) {
      res = await api.app.server().inject({ method: 'GET', url: new URL(String(res.headers.location), `http://localhost${url}`).pathname });
    }
    return res;
  };

  test('/docs and /docs/json need no token', async () => {
    const ui = await anonymous('/docs');
    expect([200, 302]).toContain(ui.statusCode);
    const page = await anonymous('/docs/static/index.html', true);
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(/swagger/i);
    const json = await anonymous('/docs/json', true);
    expect(json.statusCode).toBe(200);
  });

  test('/docs/json is OpenAPI 3 listing every route with request and response schemas', async () => {
    const doc = (await anonymous('/docs/json')).json();
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    const ops: string[] = [];
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      expect(path.startsWith('/v1/')).toBe(true);
      for (const method of Object.keys(item)) ops.push(`${method.toUpperCase()} ${path}`);
    }
    expect(ops.sort()).toEqual(
      [
        'POST /v1/domains', 'GET /v1/domains', 'GET /v1/domains/{name}', 'DELETE /v1/domains/{name}', 'GET /v1/domains/{name}/dns',
        'GET /v1/domains/{name}/dkim', 'POST /v1/domains/{name}/dkim', 'POST /v1/domains/{name}/dkim/{selector}/activate',
        'POST /v1/domains/{name}/dkim/{selector}/retire', 'DELETE /v1/domains/{name}/dkim/{selector}',
        'POST /v1/mailboxes', 'GET /v1/mailboxes', 'GET /v1/mailboxes/{address}', 'PATCH /v1/mailboxes/{address}', 'DELETE /v1/mailboxes/{address}',
        'POST /v1/aliases', 'GET /v1/aliases', 'GET /v1/aliases/{source}', 'DELETE /v1/aliases/{source}',
        'GET /v1/messages', 'GET /v1/messages/{id}/trace',
        'GET /v1/queue/recipients', 'GET /v1/queue/count', 'GET /v1/queue/stats', 'GET /v1/queue/domains',
        'POST /v1/queue/retry', 'POST /v1/queue/hold', 'POST /v1/queue/release', 'POST /v1/queue/delete',
        'POST /v1/webhooks', 'GET /v1/webhooks', 'GET /v1/webhooks/{id}', 'PATCH /v1/webhooks/{id}', 'DELETE /v1/webhooks/{id}', 'GET /v1/webhooks/{id}/deliveries',
        'POST /v1/keys', 'GET /v1/keys', 'GET /v1/keys/{id}', 'DELETE /v1/keys/{id}',
        'GET /v1/audit',
        'POST /v1/session', 'GET /v1/session', 'DELETE /v1/session', 'GET /v1/overview',
        'PATCH /v1/aliases/{source}', 'GET /v1/messages/{id}/headers', 'POST /v1/webhooks/{id}/test', 'POST /v1/messages/{id}/report', 'GET /v1/abuse/stats',
        'PATCH /v1/domains/{name}',
        'GET /v1/tls-policies', 'GET /v1/tls-policies/{domain}', 'PUT /v1/tls-policies/{domain}', 'DELETE /v1/tls-policies/{domain}',
        'GET /v1/tls-outcomes/{domain}', 'GET /v1/domains/{domain}/tls-reports',
        'GET /v1/abuse/lists', 'POST /v1/abuse/lists', 'DELETE /v1/abuse/lists/{id}', 'GET /v1/messages/refusals',
      ].sort(),
    );
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const where = `${method} ${path}`;
        expect(op.summary, where).toBeTruthy();
        // Request: a JSON body schema for POST/PATCH; path parameters for /{x}; query for lists.
        if (method === 'post' || method === 'patch') {
          const schema = op.requestBody?.content?.['application/json']?.schema;
          expect(schema?.type, where).toBe('object');
          expect(schema.additionalProperties, where).toBe(false);
        }
        if (path.includes('{')) expect(op.parameters?.some((p: any) => p.in === 'path' && p.required && p.schema?.type === 'string'), where).toBe(true);
        // Every list that can grow is paged by cursor (the summaries are fixed-size).
        if (method === 'get' && !path.includes('{') && !['/v1/queue/count', '/v1/queue/stats', '/v1/session', '/v1/overview', '/v1/abuse/stats'].includes(path)) expect(op.parameters?.map((p: any) => p.name), where).toEqual(expect.arrayContaining(['limit', 'cursor']));
        // Responses: a success schema and the error schema.
        const ok = Object.keys(op.responses).find((s) => s.startsWith('2'));
        expect(ok, where).toBeDefined();
        if (ok !== '204') expect(op.responses[ok!].content['application/json'].schema.type, where).toBe('object');
        for (const s of ['400', '401', '403', '429', '500']) {
          expect(op.responses[s]?.content?.['application/json']?.schema?.properties?.error, `${where} ${s}`).toBeDefined();
        }
      }
    }
    // Passwords are write-only and never appear in a response schema.
    const created = doc.paths['/v1/mailboxes'].post;
    expect(created.requestBody.content['application/json'].schema.properties.password.writeOnly).toBe(true);
    expect(JSON.stringify(created.responses['201'])).not.toMatch(/password/);
  });
});

describe('logs and metrics', () => {
  test('one line per request with an event code; never the token, passwords or hashes', async () => {
    const secret = 'Very-Secret-Passw0rd!';
    await api.call('POST', '/v1/mailboxes', { address: 'logged@srv.example', password: secret });
    await api.call('PATCH', '/v1/mailboxes/logged@srv.example', { password: secret + '2' });
    await api.call('POST', '/v1/mailboxes', { address: 'logged2@srv.example', password: secret, bogus: 1 });
    await api.call('POST', '/v1/mailboxes', { address: 'logged3@srv.example', password: 'short' });
    await api.call('GET', '/v1/domains', undefined, { authorization: 'Bearer wrong-token-value' });
    const text = api.logText();
    expect(text).not.toContain(secret);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('wrong-token-value');
    expect(text).not.toContain('$argon2');
    expect(text.toLowerCase()).not.toContain('authorization');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.event === EVENTS.request);
    expect(requests.length).toBeGreaterThan(5);
    for (const l of requests) expect(l).toMatchObject({ method: expect.any(String), route: expect.any(String), status: expect.any(Number), ms: expect.any(Number), reqId: expect.any(String) });
    expect(lines.some((l) => l.event === EVENTS.mailboxCreated && l.address === 'logged@srv.example')).toBe(true);
    expect(lines.some((l) => l.event === EVENTS.mailboxUpdated && l.passwordChanged === true)).toBe(true);
    for (const l of lines) if (l.level === 'warn' || l.level === 'error' || l.level === 'fatal') expect(l.event, JSON.stringify(l)).toBeTruthy();
  });

  test('requests are counted by route pattern and status', async () => {
    await api.call('GET', '/v1/domains/srv.example');
    await api.call('GET', '/v1/domains/nope.example');
    const text = await api.registry.metrics();
    expect(text).toMatch(/hopmail_admin_http_requests_total\{method="GET",route="\/v1\/domains\/:name",status="200",service="admin-api"\} \d+/);
    expect(text).toMatch(/hopmail_admin_http_requests_total\{method="GET",route="\/v1\/domains\/:name",status="404",service="admin-api"\} \d+/);
    expect(text).toMatch(/hopmail_admin_http_request_duration_seconds_count\{[^}]*route="\/v1\/domains\/:name",status="200"[^}]*\} \d+/);
    expect(text).not.toMatch(/route="\/v1\/domains\/srv\.example"/);
  });
});

describe('shutdown', () => {
  test('stop() lets an in-flight request finish and then refuses connections', async () => {
    // On a socket: this is about connections.
    const t = await startTestApi();
    await t.call('POST', '/v1/domains', { name: 'stop.example' });
    // stop() once the server holds the request (its headers parsed), not after a guessed pause.
    const arrived = new Promise((r) => t.app.server().server.once('request', r));
    const inflight = t.call('POST', '/v1/mailboxes', { address: 'late@stop.example', password: 'password-1' });
    await arrived;
    await t.app.stop();
    expect((await inflight).status).toBe(201);
    await expect(fetch(`${t.base}/v1/domains`, { headers: { authorization: `Bearer ${TOKEN}` } })).rejects.toThrow();
    await t.db.drop();
  });
});
