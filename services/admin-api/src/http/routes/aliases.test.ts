import { PgDirectory } from '@hopmail/db';
import { resolveRecipient } from '@hopmail/mail';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi();
  for (const [name, kind] of [
    ['al.example', 'local'],
    ['al2.example', 'local'],
    ['relay.example', 'relay'],
  ]) {
    expect((await api.call('POST', '/v1/domains', { name, kind })).status).toBe(201);
  }
  expect((await api.call('POST', '/v1/mailboxes', { address: 'owner@al.example', password: 'password-1' })).status).toBe(201);
});
afterAll(async () => {
  await api?.close();
});

const create = (source: unknown, targets: unknown) => api.call('POST', '/v1/aliases', { source, targets });

describe('POST /v1/aliases', () => {
  test('creates an address alias with several targets, normalising domains', async () => {
    const r = await create('Sales@AL.example', ['owner@al.example', 'Boss@Remote.EXAMPLE']);
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ source: 'Sales@al.example', domain: 'al.example', targets: ['owner@al.example', 'Boss@remote.example'], createdAt: expect.any(String) });
  });

  test('creates a catch-all and a domain-rewrite target', async () => {
    const r = await create('@AL2.example', ['@al.example']);
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ source: '@al2.example', domain: 'al2.example', targets: ['@al.example'] });
  });

  test('an alias with the same address as a mailbox is allowed (the alias wins at routing)', async () => {
    const r = await create('owner@al.example', ['owner@al.example', 'copy@remote.example']);
    expect(r.status).toBe(201);
    // The shared resolver sees the alias first: the mailbox keeps a copy because the alias names it.
    const res = await resolveRecipient('owner@al.example', new PgDirectory(api.db.pool));
    expect(res).toMatchObject({ kind: 'ok', remote: ['copy@remote.example'] });
    await api.call('DELETE', '/v1/aliases/owner@al.example');
  });

  test('an alias loop is accepted by the API (routing detects it at delivery)', async () => {
    expect((await create('loop-a@al.example', ['loop-b@al.example'])).status).toBe(201);
    expect((await create('loop-b@al.example', ['loop-a@al.example'])).status).toBe(201);
    expect(await resolveRecipient('loop-a@al.example', new PgDirectory(api.db.pool))).toEqual({ kind: 'loop' });
  });

  test('a duplicate source in another case is 409', async () => {
    expect((await create('dup@al.example', ['owner@al.example'])).status).toBe(201);
    const r = await create('DUP@Al.Example', ['x@remote.example']);
    expect(r.status).toBe(409);
    expect(r.json).toEqual({ error: { code: 'conflict', message: 'alias DUP@al.example already exists' } });
    expect((await create('@al.example', ['owner@al.example'])).status).toBe(201);
    expect((await create('@AL.EXAMPLE', ['owner@al.example'])).status).toBe(409);
  });

  test('a source in an unknown domain is 409', async () => {
    const r = await create('x@nowhere.example', ['owner@al.example']);
    expect(r.status).toBe(409);
    expect(r.json.error.message).toBe('domain nowhere.example does not exist; create it first with POST /v1/domains');
  });

  test('a source in a relay domain is 400', async () => {
    const r = await create('x@relay.example', ['owner@al.example']);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe('domain relay.example is a relay domain; alias sources must be in a local domain');
  });

  test('targets may point anywhere, including unknown and relay domains', async () => {
    expect((await create('fwd@al.example', ['a@relay.example', 'b@unknown.example', '@relay.example'])).status).toBe(201);
  });

  test.each(
    [
      [{ source: 'evil\r\n@al.example', targets: ['owner@al.example'] }, 'body.source must not contain control characters (CR, LF, NUL, TAB…)'],
      [{ source: 'ok@al.example', targets: ['owner@al.example\r\nDATA'] }, 'body.targets[0] must not contain control characters (CR, LF, NUL, TAB…)'],
      [{ source: 'ok@al.example', targets: ['owner@al.example', 'x\u0085@al.example'] }, 'body.targets[1] must not contain control characters (CR, LF, NUL, TAB…)'],
      [{ source: 'ok\ufeff@al.example', targets: ['owner@al.example'] }, 'body.source contains an invisible or bidirectional-control character (U+FEFF)'],
      [{ source: 'ok@al.example', targets: ['owner@al.example', '@al\u2060.example'] }, 'body.targets[1] contains an invisible or bidirectional-control character (U+2060)'],
      [{ source: 'ok@al.example', targets: [] }, 'body.targets must contain at least 1 item(s)'],
      [{ source: 'ok@al.example', targets: Array.from({ length: 101 }, (_, i) => `t${i}@x.example`) }, 'body.targets must contain at most 100 items'],
      [{ source: 'ok@al.example', targets: 'owner@al.example' }, 'body.targets must be of type array'],
      [{ source: 'ok@al.example', targets: ['not an address'] }, 'body.targets[0] is not a valid address (expected local@domain)'],
      [{ source: 'ok@al.example', targets: ['@bad..example'] }, 'body.targets[0] is not a valid domain name'],
      [{ source: 'ok@al.example', targets: ['a@x.example', 'A@X.example'] }, 'body.targets[1] repeats an earlier target'],
      [{ source: 'no-domain', targets: ['owner@al.example'] }, 'body.source is not a valid address (expected local@domain)'],
      [{ source: '@', targets: ['owner@al.example'] }, 'body.source is empty'],
      [{ source: '@bad_domain.example', targets: ['owner@al.example'] }, 'body.source is not a valid domain name'],
      [{ targets: ['owner@al.example'] }, 'body.source is required'],
      [{ source: 'ok@al.example' }, 'body.targets is required'],
      [{ source: 'ok@al.example', targets: ['owner@al.example'], keep: true }, 'body has an unknown property "keep"'],
    ].map(([body, message]) => ({ body: body as object, message: message as string })),
  )('400: $message', async ({ body, message }) => {
    const r = await api.call('POST', '/v1/aliases', body);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 'invalid_request', message } });
  });
});

describe('GET /v1/aliases', () => {
  test('shows one alias by source, any case; catch-alls by @domain', async () => {
    await create('show@al.example', ['owner@al.example']);
    const r = await api.call('GET', '/v1/aliases/SHOW@al.example');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ source: 'show@al.example', targets: ['owner@al.example'] });
    const c = await api.call('GET', '/v1/aliases/@al2.example');
    expect(c.status).toBe(200);
    expect(c.json.source).toBe('@al2.example');
  });

  test('unknown alias is 404; CR/LF in the path is 400', async () => {
    expect((await api.call('GET', '/v1/aliases/none@al.example')).status).toBe(404);
    const r = await api.call('GET', '/v1/aliases/none%0A@al.example');
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe('params.source must not contain control characters (CR, LF, NUL, TAB…)');
  });

  test('lists with a domain filter across pages', async () => {
    for (let i = 0; i < 5; i++) await create(`list${i}@al2.example`, ['owner@al.example']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const qs: string = `?domain=al2.example&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await api.call('GET', `/v1/aliases${qs}`);
      expect(r.status).toBe(200);
      seen.push(...r.json.items.map((a: { source: string }) => a.source));
      cursor = r.json.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['@al2.example', 'list0@al2.example', 'list1@al2.example', 'list2@al2.example', 'list3@al2.example', 'list4@al2.example']);
  });

  test('limit bounds apply', async () => {
    expect((await api.call('GET', '/v1/aliases?limit=0')).status).toBe(400);
    expect((await api.call('GET', '/v1/aliases?limit=501')).status).toBe(400);
    expect((await api.call('GET', '/v1/aliases?limit=500')).status).toBe(200);
  });
});

describe('DELETE /v1/aliases/{source}', () => {
  test('deletes by source in any case, then 404', async () => {
    await create('del@al.example', ['owner@al.example']);
    expect((await api.call('DELETE', '/v1/aliases/DEL@al.example')).status).toBe(204);
    expect((await api.call('GET', '/v1/aliases/del@al.example')).status).toBe(404);
    expect((await api.call('DELETE', '/v1/aliases/del@al.example')).status).toBe(404);
  });

  test('deletes a catch-all', async () => {
    await api.call('POST', '/v1/domains', { name: 'ca.example' });
    await create('@ca.example', ['owner@al.example']);
    expect((await api.call('DELETE', '/v1/aliases/@ca.example')).status).toBe(204);
  });
});
