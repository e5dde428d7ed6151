import { verify } from '@node-rs/argon2';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildTestApi, type ApiHarness } from '../../../test/support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await buildTestApi();
  for (const [name, kind] of [
    ['mb.example', 'local'],
    ['other.example', 'local'],
    ['relay.example', 'relay'],
  ]) {
    expect((await api.call('POST', '/v1/domains', { name, kind })).status).toBe(201);
  }
});
afterAll(async () => {
  await api?.close();
});

const create = (address: string, password = 'correct horse battery', extra: Record<string, unknown> = {}) =>
  api.call('POST', '/v1/mailboxes', { address, password, ...extra });

async function hashOf(address: string): Promise<string> {
  const r = await api.db.pool.query<{ password_hash: string }>('SELECT password_hash FROM mailboxes WHERE lower(address) = lower($1)', [address]);
  return r.rows[0]!.password_hash;
}

describe('POST /v1/mailboxes', () => {
  test('creates a mailbox; the domain is lower-cased, the local part kept, the password never returned', async () => {
    const r = await create('Alice@MB.Example', 'correct horse battery', { quotaBytes: 1_000_000 });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ address: 'Alice@mb.example', domain: 'mb.example', quotaBytes: 1_000_000, createdAt: expect.any(String), updatedAt: expect.any(String) });
    expect(JSON.stringify(r.json)).not.toMatch(/password|argon/i);
  });

  test('stores the password as Argon2id, which verifies', async () => {
    await create('hashed@mb.example', 'pässwörd-ünicode');
    const h = await hashOf('hashed@mb.example');
    expect(h.startsWith('$argon2id$v=19$')).toBe(true);
    expect(await verify(h, 'pässwörd-ünicode')).toBe(true);
    expect(await verify(h, 'wrong password')).toBe(false);
  });

  test('quota defaults to 0 (unlimited)', async () => {
    const r = await create('noquota@mb.example');
    expect(r.json.quotaBytes).toBe(0);
  });

  test('a duplicate in a different case is 409', async () => {
    expect((await create('dup@mb.example')).status).toBe(201);
    const r = await create('DUP@Mb.Example');
    expect(r.status).toBe(409);
    expect(r.json).toEqual({ error: { code: 'conflict', message: 'mailbox DUP@mb.example already exists' } });
  });

  test('a mailbox in an unknown domain is 409', async () => {
    const r = await create('x@unknown.example');
    expect(r.status).toBe(409);
    expect(r.json).toEqual({ error: { code: 'conflict', message: 'domain unknown.example does not exist; create it first with POST /v1/domains' } });
  });

  test('a mailbox in a relay domain is 400', async () => {
    const r = await create('x@relay.example');
    expect(r.status).toBe(400);
    expect(r.json.error).toEqual({ code: 'invalid_request', message: 'domain relay.example is a relay domain; mailboxes live only in local domains' });
  });

  test('password length limits are 8..1024', async () => {
    expect((await create('len8@mb.example', '12345678')).status).toBe(201);
    expect((await create('len1024@mb.example', 'p'.repeat(1024))).status).toBe(201);
    const short = await create('len7@mb.example', '1234567');
    expect(short.status).toBe(400);
    expect(short.json.error.message).toBe('body.password must be at least 8 characters');
    const long = await create('len1025@mb.example', 'p'.repeat(1025));
    expect(long.status).toBe(400);
    expect(long.json.error.message).toBe('body.password must be at most 1024 characters');
  });

  test.each([
    [{ address: 'bob\r\n@mb.example', password: 'password-1' }, 'body.address must not contain control characters (CR, LF, NUL, TAB…)'],
    [{ address: 'bob@mb.example\r\nRCPT TO:<x@y>', password: 'password-1' }, 'body.address must not contain control characters (CR, LF, NUL, TAB…)'],
    [{ address: 'bob\u0000@mb.example', password: 'password-1' }, 'body.address must not contain control characters (CR, LF, NUL, TAB…)'],
    [{ address: 'b\u200bob@mb.example', password: 'password-1' }, 'body.address contains an invisible or bidirectional-control character (U+200B)'],
    [{ address: 'bob@mb\u202e.example', password: 'password-1' }, 'body.address contains an invisible or bidirectional-control character (U+202E)'],
    [{ address: 'bob@mb.example', password: 'pass\r\nword' }, 'body.password must not contain control characters (CR, LF, NUL, TAB…)'],
    [{ address: 'no-at-sign', password: 'password-1' }, 'body.address is not a valid address (expected local@domain)'],
    [{ address: 'a b@mb.example', password: 'password-1' }, 'body.address is not a valid address (expected local@domain)'],
    [{ address: 'bob@bad..example', password: 'password-1' }, 'body.address is not a valid address (expected local@domain)'],
    [{ address: `${'l'.repeat(65)}@mb.example`, password: 'password-1' }, 'body.address has a local part longer than 64 octets (RFC 5321 §4.5.3.1.1)'],
    [{ address: `${'l'.repeat(250)}@mb.example`, password: 'password-1' }, 'body.address must be at most 254 characters'],
    [{ address: '', password: 'password-1' }, 'body.address must not be empty'],
    [{ address: 'bob@mb.example' }, 'body.password is required'],
    [{ password: 'password-1' }, 'body.address is required'],
    [{ address: 'bob@mb.example', password: 'password-1', admin: true }, 'body has an unknown property "admin"'],
    [{ address: 'bob@mb.example', password: 'password-1', quotaBytes: -1 }, 'body.quotaBytes must be >= 0'],
    [{ address: 'bob@mb.example', password: 'password-1', quotaBytes: '100' }, 'body.quotaBytes must be of type integer'],
    [{ address: 'bob@mb.example', password: 12345678 }, 'body.password must be of type string'],
  ].map(([body, message]) => ({ body: body as object, message: message as string })))('400: $message', async ({ body, message }) => {
    const r = await api.call('POST', '/v1/mailboxes', body);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 'invalid_request', message } });
  });
});

describe('GET /v1/mailboxes/{address}', () => {
  test('counts messages and bytes from mailbox_messages', async () => {
    await create('stats@mb.example');
    const empty = await api.call('GET', '/v1/mailboxes/stats@mb.example');
    expect(empty.status).toBe(200);
    expect(empty.json).toMatchObject({ address: 'stats@mb.example', messageCount: 0, sizeBytes: 0 });

    const mb = await api.db.pool.query<{ id: number }>("SELECT id FROM mailboxes WHERE address = 'stats@mb.example'");
    const sizes = [100, 2048, 70_000];
    for (const size of sizes) {
      const id = newMessageId();
      await insertMessage(api.db.pool, { id, raw: Buffer.alloc(size, 'a'), mailFrom: 'sender@remote.example', recipients: ['stats@mb.example'] });
      await api.db.pool.query('INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size) VALUES ($1, $2, $3, $4)', [mb.rows[0]!.id, id, id, size]);
    }
    const r = await api.call('GET', '/v1/mailboxes/STATS@mb.example');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      address: 'stats@mb.example',
      domain: 'mb.example',
      quotaBytes: 0,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
      messageCount: 3,
      sizeBytes: 72_148,
    });
  });

  test('unknown mailbox is 404', async () => {
    const r = await api.call('GET', '/v1/mailboxes/ghost@mb.example');
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { code: 'not_found', message: 'mailbox ghost@mb.example does not exist' } });
  });

  test('CR/LF injected into the path is 400', async () => {
    const r = await api.call('GET', '/v1/mailboxes/bob%0D%0A@mb.example');
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe('params.address must not contain control characters (CR, LF, NUL, TAB…)');
  });

  test('an invalid address in the path is 400', async () => {
    const r = await api.call('GET', '/v1/mailboxes/not-an-address');
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe('params.address is not a valid address (expected local@domain)');
  });
});

describe('PATCH /v1/mailboxes/{address}', () => {
  test('changes the password only', async () => {
    await create('patch@mb.example', 'old password');
    const before = await hashOf('patch@mb.example');
    const r = await api.call('PATCH', '/v1/mailboxes/patch@mb.example', { password: 'new password' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ address: 'patch@mb.example', quotaBytes: 0 });
    expect(new Date(r.json.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(r.json.createdAt).getTime());
    const after = await hashOf('patch@mb.example');
    expect(after).not.toBe(before);
    expect(await verify(after, 'new password')).toBe(true);
    expect(await verify(after, 'old password')).toBe(false);
  });

  test('changes the quota only, keeping the password', async () => {
    await create('quota@mb.example', 'keep this one');
    const before = await hashOf('quota@mb.example');
    const r = await api.call('PATCH', '/v1/mailboxes/Quota@MB.example', { quotaBytes: 5000 });
    expect(r.status).toBe(200);
    expect(r.json.quotaBytes).toBe(5000);
    expect(await hashOf('quota@mb.example')).toBe(before);
  });

  test('changes both', async () => {
    await create('both@mb.example');
    const r = await api.call('PATCH', '/v1/mailboxes/both@mb.example', { password: 'another one', quotaBytes: 7 });
    expect(r.status).toBe(200);
    expect(r.json.quotaBytes).toBe(7);
    expect(await verify(await hashOf('both@mb.example'), 'another one')).toBe(true);
  });

  test.each([
    [{}, 'body must set at least one property'],
    [{ password: 'short' }, 'body.password must be at least 8 characters'],
    [{ password: 'p'.repeat(1025) }, 'body.password must be at most 1024 characters'],
    [{ quotaBytes: 1.5 }, 'body.quotaBytes must be of type integer'],
    [{ address: 'rename@mb.example' }, 'body has an unknown property "address"'],
  ].map(([body, message]) => ({ body: body as object, message: message as string })))('400: $message', async ({ body, message }) => {
    await create('patchbad@mb.example');
    const r = await api.call('PATCH', '/v1/mailboxes/patchbad@mb.example', body);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 'invalid_request', message } });
  });

  test('unknown mailbox is 404', async () => {
    const r = await api.call('PATCH', '/v1/mailboxes/ghost@mb.example', { quotaBytes: 1 });
    expect(r.status).toBe(404);
  });
});

describe('DELETE /v1/mailboxes/{address}', () => {
  test('deletes the mailbox and its mailbox_messages, keeping the messages', async () => {
    await create('gone@mb.example');
    const mb = await api.db.pool.query<{ id: number }>("SELECT id FROM mailboxes WHERE address = 'gone@mb.example'");
    const id = newMessageId();
    await insertMessage(api.db.pool, { id, raw: Buffer.from('Subject: x\r\n\r\nhi\r\n'), mailFrom: '', recipients: ['gone@mb.example'] });
    await api.db.pool.query('INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size) VALUES ($1, $2, $3, 20)', [mb.rows[0]!.id, id, id]);

    const r = await api.call('DELETE', '/v1/mailboxes/GONE@mb.example');
    expect(r.status).toBe(204);
    expect(r.json).toBeUndefined();
    expect((await api.call('GET', '/v1/mailboxes/gone@mb.example')).status).toBe(404);
    expect((await api.db.pool.query('SELECT 1 FROM mailbox_messages WHERE message_id = $1', [id])).rowCount).toBe(0);
    expect((await api.db.pool.query('SELECT 1 FROM messages WHERE id = $1', [id])).rowCount).toBe(1);
  });

  test('a second delete is 404', async () => {
    await create('twice@mb.example');
    expect((await api.call('DELETE', '/v1/mailboxes/twice@mb.example')).status).toBe(204);
    expect((await api.call('DELETE', '/v1/mailboxes/twice@mb.example')).status).toBe(404);
  });
});

describe('GET /v1/mailboxes', () => {
  test('filters by domain and pages with an opaque cursor', async () => {
    const names = ['p1', 'P2', 'p3', 'p4', 'p5'];
    for (const n of names) expect((await create(`${n}@other.example`)).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    for (;;) {
      const qs: string = `?domain=OTHER.example&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await api.call('GET', `/v1/mailboxes${qs}`);
      expect(r.status).toBe(200);
      for (const m of r.json.items) {
        expect(m.domain).toBe('other.example');
        expect(Object.keys(m).sort()).toEqual(['address', 'createdAt', 'domain', 'quotaBytes', 'updatedAt']);
      }
      seen.push(...r.json.items.map((m: { address: string }) => m.address));
      cursor = r.json.nextCursor;
      if (!cursor) break;
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(seen).toEqual(['p1@other.example', 'P2@other.example', 'p3@other.example', 'p4@other.example', 'p5@other.example']);
  });

  test('without a filter lists every domain, sorted case-insensitively', async () => {
    const r = await api.call('GET', '/v1/mailboxes?limit=500');
    expect(r.status).toBe(200);
    const addrs = r.json.items.map((m: { address: string }) => m.address.toLowerCase());
    expect(addrs).toContain('alice@mb.example');
    expect(addrs).toContain('p1@other.example');
    expect(r.json.nextCursor).toBeNull();
  });

  test('a domain filter that is not a domain is 400', async () => {
    const r = await api.call('GET', '/v1/mailboxes?domain=bad..example');
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe('querystring.domain is not a valid domain name');
  });

  test('an unknown domain filter gives an empty list', async () => {
    const r = await api.call('GET', '/v1/mailboxes?domain=nothing.example');
    expect(r.json).toEqual({ items: [], nextCursor: null });
  });
});
