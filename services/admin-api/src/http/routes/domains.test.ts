import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi();
});
afterAll(async () => {
  await api?.close();
});

describe('POST /v1/domains', () => {
  test('creates a local domain by default, stored lower case', async () => {
    const r = await api.call('POST', '/v1/domains', { name: 'Create.Example' });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ name: 'create.example', kind: 'local', createdAt: expect.any(String), inboundDmarcEnforce: null, inboundSpfReject: null });
    expect(new Date(r.json.createdAt).getTime()).toBeGreaterThan(0);
    const row = await api.db.pool.query('SELECT name, kind FROM domains WHERE name = $1', ['create.example']);
    expect(row.rows).toEqual([{ name: 'create.example', kind: 'local' }]);
  });

  test('creates a relay domain', async () => {
    const r = await api.call('POST', '/v1/domains', { name: 'relay.example', kind: 'relay' });
    expect(r.status).toBe(201);
    expect(r.json.kind).toBe('relay');
  });

  test('a duplicate in another case is 409 conflict', async () => {
    expect((await api.call('POST', '/v1/domains', { name: 'dup.example' })).status).toBe(201);
    const r = await api.call('POST', '/v1/domains', { name: 'DUP.Example' });
    expect(r.status).toBe(409);
    expect(r.json).toEqual({ error: { code: 'conflict', message: 'domain dup.example already exists' } });
  });

  test('concurrent creates differing only in case: exactly one wins, the unique index refuses the rest', async () => {
    const names = ['race.example', 'RACE.example', 'Race.Example', 'race.EXAMPLE', 'rAcE.example'];
    const results = await Promise.all(names.map((name) => api.call('POST', '/v1/domains', { name })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
  });

  test.each([
    [{ name: 'bad..example' }, 'body.name is not a valid domain name'],
    [{ name: 'evil.example\r\nX-Injected: 1' }, 'body.name must not contain control characters (CR, LF, NUL, TAB…)'],
    [{ name: 'tab\t.example' }, 'body.name must not contain control characters (CR, LF, NUL, TAB…)'],
    [{ name: 'pay\u200bpal.example' }, 'body.name contains an invisible or bidirectional-control character (U+200B)'],
    [{ name: '\ufeffbom.example' }, 'body.name contains an invisible or bidirectional-control character (U+FEFF)'],
    [{ name: 'word\u2060joiner.example' }, 'body.name contains an invisible or bidirectional-control character (U+2060)'],
    [{ name: '\u202egro.elpmaxe' }, 'body.name contains an invisible or bidirectional-control character (U+202E)'],
    [{ name: 'ltr\u200e.example' }, 'body.name contains an invisible or bidirectional-control character (U+200E)'],
    [{ name: '' }, 'body.name must not be empty'],
    [{ name: 'a'.repeat(254) }, 'body.name must be at most 253 characters'],
    [{ name: '[127.0.0.1]' }, 'body.name must be a domain name, not an address literal'],
    [{}, 'body.name is required'],
    [{ name: 'ok.example', kind: 'remote' }, 'body.kind must be one of "local", "relay"'],
    [{ name: 'ok.example', owner: 'me' }, 'body has an unknown property "owner"'],
    [{ name: 42 }, 'body.name must be of type string'],
    [[], 'body must be of type object'],
  ])('refuses %j with 400', async (body, message) => {
    const r = await api.call('POST', '/v1/domains', body);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 'invalid_request', message } });
  });
});

describe('GET /v1/domains', () => {
  test('shows one domain with its counts, whatever the case asked', async () => {
    await api.call('POST', '/v1/domains', { name: 'show.example' });
    await api.call('POST', '/v1/mailboxes', { address: 'a@show.example', password: 'password-1' });
    await api.call('POST', '/v1/aliases', { source: 'b@show.example', targets: ['a@show.example'] });
    const r = await api.call('GET', '/v1/domains/SHOW.example');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ name: 'show.example', kind: 'local', createdAt: expect.any(String), inboundDmarcEnforce: null, inboundSpfReject: null, mailboxCount: 1, aliasCount: 1 });
  });

  test('unknown domain is 404', async () => {
    const r = await api.call('GET', '/v1/domains/nowhere.example');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { code: 'not_found', message: 'domain nowhere.example does not exist' } });
  });

  test('CR/LF in the path is 400', async () => {
    const r = await api.call('GET', '/v1/domains/evil.example%0D%0A');
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe('params.name must not contain control characters (CR, LF, NUL, TAB…)');
  });

  test('lists every domain exactly once across pages', async () => {
    for (let i = 0; i < 7; i++) await api.call('POST', '/v1/domains', { name: `page${i}.list.example` });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=3&cursor=${cursor}` : '?limit=3';
      const r = await api.call('GET', `/v1/domains${q}`);
      expect(r.status).toBe(200);
      expect(r.json.items.length).toBeLessThanOrEqual(3);
      seen.push(...r.json.items.map((d: { name: string }) => d.name));
      cursor = r.json.nextCursor;
      pages++;
    } while (cursor);
    const all = await api.db.pool.query<{ name: string }>('SELECT name FROM domains ORDER BY lower(name)');
    expect(seen).toEqual(all.rows.map((r) => r.name));
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(all.rows.length / 3));
  });

  test('the last page has nextCursor null', async () => {
    const r = await api.call('GET', '/v1/domains?limit=500');
    expect(r.status).toBe(200);
    expect(r.json.nextCursor).toBeNull();
  });

  test.each([
    ['?limit=0', 'querystring.limit must be >= 1'],
    ['?limit=501', 'querystring.limit must be <= 500'],
    ['?limit=ten', 'querystring.limit must be of type integer'],
    ['?limit=1.5', 'querystring.limit must be of type integer'],
    ['?cursor=%24%24', 'querystring.cursor has an invalid format'],
    ['?sort=name', 'querystring has an unknown property "sort"'],
  ])('refuses %s', async (q, message) => {
    const r = await api.call('GET', `/v1/domains${q}`);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 'invalid_request', message } });
  });

  test('a cursor we did not issue is 400 invalid_cursor', async () => {
    const r = await api.call('GET', `/v1/domains?cursor=${Buffer.from('{"v":9}').toString('base64url')}`);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('invalid_cursor');
  });
});

describe('DELETE /v1/domains/{name}', () => {
  test('deletes an empty domain', async () => {
    await api.call('POST', '/v1/domains', { name: 'empty.example' });
    const r = await api.call('DELETE', '/v1/domains/Empty.Example');
    expect(r.status).toBe(204);
    expect((await api.call('GET', '/v1/domains/empty.example')).status).toBe(404);
  });

  test('refuses 409 while mailboxes or aliases remain, then cascades on request', async () => {
    await api.call('POST', '/v1/domains', { name: 'full.example' });
    expect((await api.call('POST', '/v1/mailboxes', { address: 'u@full.example', password: 'password-1' })).status).toBe(201);
    expect((await api.call('POST', '/v1/aliases', { source: '@full.example', targets: ['u@full.example'] })).status).toBe(201);

    const refused = await api.call('DELETE', '/v1/domains/full.example');
    expect(refused.status).toBe(409);
    expect(refused.json.error).toEqual({ code: 'conflict', message: 'domain full.example still has 1 mailbox(es) and 1 alias(es); delete them first or pass ?cascade=true' });
    expect((await api.call('GET', '/v1/mailboxes/u@full.example')).status).toBe(200);

    expect((await api.call('DELETE', '/v1/domains/full.example?cascade=false')).status).toBe(409);
    expect((await api.call('DELETE', '/v1/domains/full.example?cascade=yes')).status).toBe(400);
    expect((await api.call('DELETE', '/v1/domains/full.example?cascade=true')).status).toBe(204);
    expect((await api.call('GET', '/v1/mailboxes/u@full.example')).status).toBe(404);
    expect((await api.call('GET', '/v1/aliases/@full.example')).status).toBe(404);
  });

  test('only-aliases also blocks', async () => {
    await api.call('POST', '/v1/domains', { name: 'aliased.example' });
    await api.call('POST', '/v1/aliases', { source: 'x@aliased.example', targets: ['y@elsewhere.example'] });
    expect((await api.call('DELETE', '/v1/domains/aliased.example')).status).toBe(409);
  });

  test('unknown domain is 404', async () => {
    const r = await api.call('DELETE', '/v1/domains/never.example');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('not_found');
  });
});

describe('PATCH /v1/domains/{name} (inbound authentication policy)', () => {
  test('sets, keeps what is left out, and returns to the cluster default with null', async () => {
    expect((await api.call('POST', '/v1/domains', { name: 'policy.example' })).status).toBe(201);
    let r = await api.call('PATCH', '/v1/domains/Policy.Example', { inboundDmarcEnforce: false, inboundSpfReject: true });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'policy.example', inboundDmarcEnforce: false, inboundSpfReject: true });
    r = await api.call('PATCH', '/v1/domains/policy.example', { inboundSpfReject: null });
    expect(r.json).toMatchObject({ inboundDmarcEnforce: false, inboundSpfReject: null });
    const row = await api.db.pool.query('SELECT inbound_dmarc_enforce, inbound_spf_reject FROM domains WHERE name = $1', ['policy.example']);
    expect(row.rows).toEqual([{ inbound_dmarc_enforce: false, inbound_spf_reject: null }]);
    expect((await api.call('GET', '/v1/domains/policy.example')).json).toMatchObject({ inboundDmarcEnforce: false, inboundSpfReject: null });
  });

  test('an empty body or an unknown field is 400; an unknown domain is 404', async () => {
    expect((await api.call('PATCH', '/v1/domains/policy.example', {})).status).toBe(400);
    expect((await api.call('PATCH', '/v1/domains/policy.example', { kind: 'relay' })).status).toBe(400);
    expect((await api.call('PATCH', '/v1/domains/policy.example', { inboundDmarcEnforce: 'yes' })).status).toBe(400);
    expect((await api.call('PATCH', '/v1/domains/nowhere.example', { inboundDmarcEnforce: true })).status).toBe(404);
  });
});
