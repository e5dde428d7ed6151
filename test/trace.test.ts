// Message trace completeness across routing and the outbound relay (real PostgreSQL, Redis,
// fake DNS and fake MX), read back through GET /v1/messages/{id}/trace.
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { waitFor } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MX_IP, MX_IP2, startCluster, type Cluster } from './admin-cluster.ts';

let c: Cluster;
beforeAll(async () => {
  c = await startCluster();
  await c.api.call('POST', '/v1/domains', { name: 'local.test' });
  for (const a of ['alice@local.test', 'bob@local.test']) expect((await c.api.call('POST', '/v1/mailboxes', { address: a, password: 'password-1' })).status).toBe(201);
  c.mx.behave(MX_IP, { rcpt: { 'nobody@remote.test': 550 } });
  c.mx.behave(MX_IP2, { greylist: true });
});
afterAll(async () => {
  await c?.close();
});

async function trace(id: string) {
  const r = await c.api.call('GET', `/v1/messages/${id}/trace`);
  expect(r.status).toBe(200);
  return r.json as { message: any; events: { type: string; recipient: string | null; data: any; at: string }[]; nextCursor: string | null };
}

async function traceUntil(id: string, last: string, count = 1) {
  return waitFor(async () => {
    const t = await trace(id);
    return t.events.filter((e) => e.type === last).length >= count ? t : undefined;
  }, { what: `${last} in the trace of ${id}`, timeoutMs: 15_000 });
}

const types = (t: { events: { type: string }[] }) => t.events.map((e) => e.type);

describe('trace', () => {
  test('local delivery: received → routed → delivered-mailbox, then a POP3 deletion', async () => {
    const id = await c.send('alice@local.test', ['bob@local.test'], { tls: true, authUser: 'alice@local.test' });
    const t = await traceUntil(id, 'delivered-mailbox');
    expect(types(t)).toEqual(['received', 'routed', 'delivered-mailbox']);
    expect(t.events[0]!.data).toMatchObject({ sender: 'alice@local.test', clientIp: '192.0.2.7', helo: 'client.example', tls: true, authUser: 'alice@local.test', size: expect.any(Number), headerMessageId: `<${id}@local.test>` });
    expect(t.events[1]).toMatchObject({ recipient: 'bob@local.test', data: { status: 'delivered', previous: 'queued' } });
    expect(t.events[2]).toMatchObject({ recipient: 'bob@local.test', data: { mailbox: 'bob@local.test' } });
    expect(t.message).toMatchObject({ id, sender: 'alice@local.test', recipients: [{ address: 'bob@local.test', status: 'delivered' }] });
    // What pop3 does on QUIT after DELE (pg-maildrop.ts).
    await c.api.db.pool.query('DELETE FROM mailbox_messages WHERE message_id = $1', [id]);
    const after = await trace(id);
    expect(types(after)).toEqual(['received', 'routed', 'delivered-mailbox', 'deleted-by-pop3']);
    expect(after.events[3]!.data).toMatchObject({ mailbox: 'bob@local.test' });
  });

  test('relayed delivery: received → routed → relay-attempt (MX, reply, TLS) → delivered', async () => {
    const id = await c.send('alice@local.test', ['carol@remote.test']);
    const t = await traceUntil(id, 'delivered');
    expect(types(t)).toEqual(['received', 'routed', 'relay-attempt', 'delivered']);
    expect(t.events[1]).toMatchObject({ recipient: 'carol@remote.test', data: { status: 'relay', domain: 'remote.test' } });
    expect(t.events[2]!.data).toMatchObject({ domain: 'remote.test', mx: 'mx.remote.test', ip: MX_IP, outcome: 'delivered', tls: expect.any(Boolean), reply: expect.stringMatching(/^250/), recipients: ['carol@remote.test'] });
    expect(t.events[3]).toMatchObject({ recipient: 'carol@remote.test', data: { mx: 'mx.remote.test', reply: expect.stringMatching(/^250/) } });
  });

  test('deferred then delivered: the greylisted try, the deferral with its next attempt, the retry', async () => {
    const id = await c.send('alice@local.test', ['dave@grey.test']);
    const t = await traceUntil(id, 'delivered');
    expect(types(t)).toEqual(['received', 'routed', 'relay-attempt', 'deferred', 'relay-attempt', 'delivered']);
    expect(t.events[2]!.data).toMatchObject({ outcome: 'deferred', mx: 'mx.grey.test' });
    expect(t.events[3]).toMatchObject({ recipient: 'dave@grey.test', data: { reply: expect.stringMatching(/^451/), attempts: 1, nextAttemptAt: expect.any(String) } });
    expect(t.events[4]!.data).toMatchObject({ outcome: 'delivered' });
    const times = t.events.map((e) => Date.parse(e.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  test('bounce: relay-attempt → bounced → dsn-sent, and the DSN reaches the sender', async () => {
    const id = await c.send('alice@local.test', ['nobody@remote.test']);
    const t = await traceUntil(id, 'dsn-sent');
    expect(types(t)).toEqual(['received', 'routed', 'relay-attempt', 'bounced', 'dsn-sent']);
    expect(t.events[3]).toMatchObject({ recipient: 'nobody@remote.test', data: { status: 'bounced', reply: expect.stringMatching(/^550/) } });
    expect(t.events[4]).toMatchObject({ recipient: 'nobody@remote.test', data: { action: 'failed', suppressed: false, dsnMessageId: expect.any(String) } });
    // The DSN is a message of its own, received (null sender) and delivered to alice.
    const dsn = (await c.api.call('GET', `/v1/messages?queueId=${t.events[4]!.data.dsnMessageId}`)).json.items[0];
    expect(dsn).toMatchObject({ sender: '', recipients: [{ address: 'alice@local.test' }] });
    const dt = await traceUntil(dsn.id, 'delivered-mailbox');
    expect(types(dt)).toEqual(['received', 'routed', 'delivered-mailbox']);
    expect(dt.events[0]!.data.sender).toBe('');
  });

  test('a message deferred past the warning time gets a delay-warning event (and its DSN)', async () => {
    c.mx.behave(MX_IP, { rcpt: { 'nobody@remote.test': 550, 'slow@remote.test': 451 } });
    const id = newMessageId();
    await insertMessage(c.api.db.pool, { id, raw: Buffer.from(`Subject: slow\r\nMessage-ID: <${id}@local.test>\r\n\r\nx\r\n`), mailFrom: 'alice@local.test', recipients: ['slow@remote.test'] });
    // Received five hours ago: past the default 4 h delay warning.
    await c.api.db.pool.query(`UPDATE messages SET received_at = now() - interval '5 hours' WHERE id = $1`, [id]);
    await c.route.add({ messageId: id });
    const t = await traceUntil(id, 'delay-warning');
    expect(types(t).slice(0, 4)).toEqual(['received', 'routed', 'relay-attempt', 'deferred']);
    expect(t.events.find((e) => e.type === 'delay-warning')).toMatchObject({ recipient: 'slow@remote.test', data: { reply: expect.stringMatching(/^451/) } });
    await c.api.call('POST', '/v1/queue/delete', { filter: { messageId: id } });
    c.mx.behave(MX_IP, { rcpt: { 'nobody@remote.test': 550 } });
  });

  test('success reports (NOTIFY=SUCCESS): dsn-sent with Action delivered (mailbox), relayed (a hop without DSN), expanded (an alias)', async () => {
    expect((await c.api.call('POST', '/v1/aliases', { source: 'team@local.test', targets: ['bob@local.test', 'frank@remote.test'] })).status).toBe(201);
    const sendAsking = async (to: string) => {
      const id = newMessageId();
      await insertMessage(c.api.db.pool, { id, raw: Buffer.from(`Subject: confirm\r\nMessage-ID: <${id}@local.test>\r\n\r\nx\r\n`), mailFrom: 'alice@local.test', recipients: [to], recipientDsn: [{ notify: ['SUCCESS'], orcpt: null }] });
      await c.route.add({ messageId: id });
      return id;
    };
    for (const [to, action] of [['bob@local.test', 'delivered'], ['carol@remote.test', 'relayed'], ['team@local.test', 'expanded']] as const) {
      const id = await sendAsking(to);
      const t = await traceUntil(id, 'dsn-sent');
      const sent = t.events.filter((e) => e.type === 'dsn-sent');
      expect(sent).toEqual([expect.objectContaining({ recipient: to, data: { action, status: '2.0.0', dsnMessageId: expect.any(String) } })]);
      // The event names the success DSN, a message of its own back to alice.
      const dsn = (await c.api.call('GET', `/v1/messages?queueId=${sent[0]!.data.dsnMessageId}`)).json.items[0];
      expect(dsn).toMatchObject({ sender: '', recipients: [{ address: 'alice@local.test' }] });
    }
  });

  test('admin actions appear in the trace with the actor', async () => {
    c.mx.behave(MX_IP, { rcpt: { 'nobody@remote.test': 550 }, dataCode: 451 });
    const id = await c.send('alice@local.test', ['erin@remote.test']);
    await traceUntil(id, 'deferred');
    expect((await c.api.call('POST', '/v1/queue/hold', { filter: { messageId: id } })).json).toMatchObject({ changed: 1 });
    c.mx.behave(MX_IP, { rcpt: { 'nobody@remote.test': 550 } });
    expect((await c.api.call('POST', '/v1/queue/release', { filter: { messageId: id } })).json).toMatchObject({ changed: 1, jobs: expect.any(Number) });
    const t = await traceUntil(id, 'delivered');
    const admin = t.events.filter((e) => e.type === 'admin-action');
    expect(admin.map((e) => e.data.action)).toEqual(['hold', 'release']);
    expect(admin.every((e: any) => e.actor === 'bootstrap' && e.recipient === 'erin@remote.test')).toBe(true);
  });

  test('deleting a mailbox through the API is traced as the admin\'s action, not as POP3', async () => {
    expect((await c.api.call('POST', '/v1/mailboxes', { address: 'temp@local.test', password: 'password-1' })).status).toBe(201);
    const id = await c.send('alice@local.test', ['temp@local.test']);
    await traceUntil(id, 'delivered-mailbox');
    expect((await c.api.call('DELETE', '/v1/mailboxes/temp@local.test')).status).toBe(204);
    const t = await trace(id);
    expect(types(t)).toEqual(['received', 'routed', 'delivered-mailbox', 'admin-action']);
    expect(t.events[3]).toMatchObject({ actor: 'bootstrap', data: { action: 'mailbox-message-deleted', uidl: expect.any(String) } });
  });

  test('traces page with a cursor', async () => {
    const id = await c.send('alice@local.test', ['bob@local.test']);
    await traceUntil(id, 'delivered-mailbox');
    const p1 = await c.api.call('GET', `/v1/messages/${id}/trace?limit=2`);
    expect(p1.json.events.map((e: any) => e.type)).toEqual(['received', 'routed']);
    const p2 = await c.api.call('GET', `/v1/messages/${id}/trace?limit=2&cursor=${p1.json.nextCursor}`);
    expect(p2.json.events.map((e: any) => e.type)).toEqual(['delivered-mailbox']);
    expect(p2.json.nextCursor).toBeNull();
  });

  test('unknown message is 404', async () => {
    const r = await c.api.call('GET', '/v1/messages/01900000-0000-7000-8000-000000000000/trace');
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('not_found');
  });
});

describe('inbound authentication results', () => {
  test('shown by the search and the trace (smtp-ingress stores them as messages.auth_results); null when not checked', async () => {
    const id = newMessageId();
    const authResults = { authservId: 'mx.local.test', spf: { result: 'pass', domain: 'sender.test', identity: 'mailfrom' }, dkim: [], dkimSkipped: 0, dmarc: { result: 'pass', domain: 'sender.test', policy: 'reject' }, arc: { result: 'none', instance: null }, header: 'mx.local.test; spf=pass' };
    await insertMessage(c.api.db.pool, { id, raw: Buffer.from('Subject: auth\r\n\r\nx\r\n'), mailFrom: 'a@sender.test', recipients: ['alice@local.test'], authResults });
    expect((await c.api.call('GET', `/v1/messages?queueId=${id}`)).json.items[0].authResults).toEqual(authResults);
    expect((await trace(id)).message.authResults).toEqual(authResults);
    const plain = await c.send('alice@local.test', ['bob@local.test'], { authUser: 'alice@local.test' });
    expect((await trace(plain)).message.authResults).toBeNull();
  });
});

describe('scopes on messages', () => {
  test('a domain-admin key sees only messages for its domains; read-only sees all', async () => {
    const id = await c.send('alice@local.test', ['bob@local.test']);
    await traceUntil(id, 'delivered-mailbox');
    const other = (await c.api.call('POST', '/v1/keys', { name: 'other', scope: 'domain-admin', domains: ['remote.test'] })).json.key;
    const mine = (await c.api.call('POST', '/v1/keys', { name: 'mine', scope: 'domain-admin', domains: ['local.test'] })).json.key;
    const ro = (await c.api.call('POST', '/v1/keys', { name: 'ro', scope: 'read-only' })).json.key;
    expect((await c.api.as(other)('GET', `/v1/messages/${id}/trace`)).status).toBe(403);
    expect((await c.api.as(other)('GET', `/v1/messages?queueId=${id}`)).json.items).toEqual([]);
    expect((await c.api.as(other)('POST', '/v1/queue/hold', { filter: { messageId: id } })).json.changed).toBe(0);
    expect((await c.api.as(mine)('GET', `/v1/messages/${id}/trace`)).status).toBe(200);
    expect((await c.api.as(ro)('GET', `/v1/messages/${id}/trace`)).status).toBe(200);
    expect((await c.api.as(ro)('POST', '/v1/queue/retry', { filter: { messageId: id } })).status).toBe(403);
  });
});

describe('search', () => {
  test('by queue id, Message-ID header, sender, recipient, status and time, newest first with cursors', async () => {
    const a = await c.send('alice@local.test', ['bob@local.test']);
    const b = await c.send('bob@local.test', ['alice@local.test']);
    await traceUntil(b, 'delivered-mailbox');
    const q = async (qs: string) => ((await c.api.call('GET', `/v1/messages?${qs}`)).json.items as { id: string }[]).map((m) => m.id);
    expect(await q(`queueId=${a}`)).toEqual([a]);
    expect(await q(`messageId=${encodeURIComponent(`<${b}@local.test>`)}`)).toEqual([b]);
    expect(await q(`messageId=${encodeURIComponent(`${b}@local.test`)}`)).toEqual([b]);
    expect(await q('sender=bob@local.test')).toContain(b);
    expect(await q('sender=bob@local.test')).not.toContain(a);
    expect((await q('recipient=bob@local.test')).indexOf(a)).toBeGreaterThan(-1);
    expect(await q('status=bounced')).not.toContain(a);
    const since = new Date(Date.now() + 60_000).toISOString();
    expect(await q(`since=${encodeURIComponent(since)}`)).toEqual([]);
    const p1 = await c.api.call('GET', '/v1/messages?limit=1');
    const p2 = await c.api.call('GET', `/v1/messages?limit=1&cursor=${p1.json.nextCursor}`);
    expect(p1.json.items[0].id > p2.json.items[0].id).toBe(true);
  });
});
