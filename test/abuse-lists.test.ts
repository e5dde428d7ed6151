// The operator's allowlist and blocklist, managed through admin-api (validation, conflicts,
// paging) and applied by two smtp-ingress replicas that each refresh them from PostgreSQL:
// a blocked client or sender domain gets 554 5.7.1 at RCPT naming the reason; an allowlisted
// client skips greylisting and the per-client limits. Every refused or greylisted RCPT shows
// in GET /v1/messages/refusals ("why didn't my mail arrive").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApi, type ApiHarness } from '../services/admin-api/test/support.ts';
import { expectCode, seedDirectory, SmtpClient, startIngress, type TestIngress } from '../services/smtp-ingress/test/helpers.ts';

let api: ApiHarness;
let a: TestIngress;
let b: TestIngress;
beforeAll(async () => {
  api = await buildTestApi();
  await seedDirectory(api.db.pool);
  const env = { GREYLIST_ENABLED: 'true', ABUSE_LISTS_REFRESH_MS: '100', RATE_MAX_RECIPIENTS: '2' };
  a = await startIngress({ db: api.db, env });
  b = await startIngress({ db: api.db, prefix: a.prefix, env });
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await api?.close();
});

/** The RCPT reply for one recipient in a new session on `t`. */
async function rcpt(t: TestIngress, from: string, to: string): Promise<string> {
  const c = await SmtpClient.connect(t.port);
  expectCode(await c.cmd('EHLO client.test'), 250);
  expectCode(await c.cmd(`MAIL FROM:<${from}>`), 250);
  const r = await c.cmd(`RCPT TO:<${to}>`);
  c.close();
  return r;
}

describe('admin API: /v1/abuse/lists', () => {
  it('validates: addresses, CIDR (IPv4, IPv6), domains; clear 400s; 409 when already listed; 404 for an unknown id', async () => {
    const add = (body: unknown) => api.call('POST', '/v1/abuse/lists', body);
    for (const [value, message] of [
      ['10.1.2.3/8', /bits after the prefix length must be zero/],
      ['10.0.0.0/33', /prefix length must be 0 to 32/],
      ['2001:db8::/129', /prefix length must be 0 to 128/],
      ['1.2.3', /neither an IPv4\/IPv6 address or CIDR network nor a domain name/],
      ['bad_domain!.example', /body\.value is not a valid domain name/],
      ['10.0.0.0/8/1', /prefix length/],
    ] as const) {
      const r = await add({ list: 'block', value });
      expect(r.status, value).toBe(400);
      expect(r.json.error.message, value).toMatch(message);
    }
    expect((await add({ list: 'grey', value: '192.0.2.1' })).status).toBe(400);
    expect((await add({ list: 'block', value: '192.0.2.1', reason: 'line\r\nbreak' })).status).toBe(400);
    expect((await add({ list: 'block', value: '192.0.2.1', extra: 1 })).status).toBe(400);

    const v6 = await add({ list: 'block', value: '2001:DB8::/32', reason: 'v6 spam' });
    expect(v6.status).toBe(201);
    expect(v6.json).toMatchObject({ list: 'block', kind: 'network', value: '2001:db8::/32', reason: 'v6 spam', createdBy: 'bootstrap' });
    const one = await add({ list: 'allow', value: '192.0.2.1' });
    expect(one.json).toMatchObject({ kind: 'network', value: '192.0.2.1/32', reason: '' });
    const d = await add({ list: 'allow', value: 'Partner.Example.' });
    expect(d.json).toMatchObject({ kind: 'domain', value: 'partner.example' });
    const dup = await add({ list: 'block', value: '192.0.2.1/32' });
    expect(dup.status).toBe(409);
    expect(dup.json.error.message).toBe(`192.0.2.1/32 is already on the allowlist (entry ${one.json.id}); remove it first`);

    const page1 = await api.call('GET', '/v1/abuse/lists?limit=2');
    expect(page1.json.items.map((e: { value: string }) => e.value)).toEqual(['2001:db8::/32', '192.0.2.1/32']);
    const page2 = await api.call('GET', `/v1/abuse/lists?limit=2&cursor=${page1.json.nextCursor}`);
    expect(page2.json).toMatchObject({ items: [{ value: 'partner.example' }], nextCursor: null });
    expect((await api.call('GET', '/v1/abuse/lists?list=block')).json.items).toHaveLength(1);

    for (const e of [v6, one, d]) expect((await api.call('DELETE', `/v1/abuse/lists/${e.json.id}`)).status).toBe(204);
    expect((await api.call('DELETE', `/v1/abuse/lists/${one.json.id}`)).status).toBe(404);
    expect((await api.call('DELETE', '/v1/abuse/lists/abc')).status).toBe(400);
    expect(api.logText()).toContain('"event":"admin-api.abuse-list-changed"');
  });
});

describe('smtp-ingress applies the lists on every replica', () => {
  it('blocked client: 554 5.7.1 at RCPT naming the reason, on both replicas; removed: greylisted again', async () => {
    expect(await rcpt(a, 's@remote.test', 'alice@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
    const e = await api.call('POST', '/v1/abuse/lists', { list: 'block', value: '127.0.0.0/8', reason: 'see https://example.org/why' });
    expect(e.status).toBe(201);
    const refused = '554 5.7.1 Client host [127.0.0.1] blocked by the blocklist (127.0.0.0/8): see https://example.org/why';
    for (const t of [a, b]) await expect.poll(() => rcpt(t, 's@remote.test', 'alice@example.org')).toBe(refused);
    expect(a.logs.some((l) => l.event === 'smtp-ingress.blocklisted' && l.reason === 'blocklist-client')).toBe(true);
    expect((await api.call('DELETE', `/v1/abuse/lists/${e.json.id}`)).status).toBe(204);
    for (const t of [a, b]) await expect.poll(() => rcpt(t, 's@remote.test', 'alice@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
  });

  it('allowlisted client: no greylisting, no per-client limits; a blocked sender domain is still refused', async () => {
    const e = await api.call('POST', '/v1/abuse/lists', { list: 'allow', value: '127.0.0.1' });
    const s = await api.call('POST', '/v1/abuse/lists', { list: 'block', value: 'spam.example', reason: 'junk' });
    for (const t of [a, b]) await expect.poll(() => rcpt(t, 'new@remote.test', 'alice@example.org')).toMatch(/^250 /);
    const c = await SmtpClient.connect(b.port);
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd('MAIL FROM:<x@remote.test>'), 250);
    // RATE_MAX_RECIPIENTS is 2: an allowlisted client is not counted.
    for (const to of ['alice@example.org', 'bob@example.org', 'alice+1@example.org', 'alice+2@example.org']) expect(await c.cmd(`RCPT TO:<${to}>`), to).toMatch(/^250 /);
    c.close();
    // The two entries may reach a replica in different refreshes (ABUSE_LISTS_REFRESH_MS apart).
    await expect.poll(() => rcpt(a, 'x@mail.spam.example', 'alice@example.org')).toBe('554 5.7.1 Sender domain mail.spam.example blocked by the blocklist (spam.example): junk');
    for (const x of [e, s]) await api.call('DELETE', `/v1/abuse/lists/${x.json.id}`);
  });

  it('refused and greylisted attempts show in GET /v1/messages/refusals with the reply', async () => {
    await expect
      .poll(async () => (await api.call('GET', '/v1/messages/refusals?recipient=ALICE@example.org')).json.items.map((x: { reason: string }) => x.reason))
      .toEqual(expect.arrayContaining(['greylisted', 'blocklist-client', 'blocklist-sender']));
    const items = (await api.call('GET', '/v1/messages/refusals?sender=x@mail.spam.example')).json.items;
    expect(items[0]).toMatchObject({
      clientIp: '127.0.0.1', helo: 'client.test', sender: 'x@mail.spam.example', recipient: 'alice@example.org', stage: 'rcpt', reason: 'blocklist-sender',
      reply: '554 5.7.1 Sender domain mail.spam.example blocked by the blocklist (spam.example): junk',
    });
    const paged = await api.call('GET', '/v1/messages/refusals?limit=1&clientIp=127.0.0.1');
    expect(paged.json.items).toHaveLength(1);
    expect(paged.json.nextCursor).toEqual(expect.any(String));
    const next = await api.call('GET', `/v1/messages/refusals?limit=1&clientIp=127.0.0.1&cursor=${paged.json.nextCursor}`);
    expect(next.json.items[0].id).toBeLessThan(paged.json.items[0].id);
    expect((await api.call('GET', '/v1/messages/refusals?clientIp=nope')).status).toBe(400);
  });
});
