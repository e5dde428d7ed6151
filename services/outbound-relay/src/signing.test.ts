// What the relay sends is authenticated: DKIM signatures (Ed25519 and RSA) of the From
// domain, verified by an independent verifier (dkimpy) on the bytes the remote MX received;
// forwarded mail with an SRS envelope and an ARC seal; DSNs signed too; unsigned mail says
// why in the trace; the private keys never appear in logs or the trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { queueRedis } from '@hopmail/service-kit';
import { loadKek, srsReverse } from '@hopmail/sender-auth';
import { baseUrls, createTestDatabase, dkimpyMissing, redisPrefix, startFakeDns, startFakeMx, verifyWithDkimpy, type FakeDns, type FakeMx, type MxTransaction, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { addKey, ensureDomain, recordsOf, secretPieces, TEST_KEK, type StoredKey } from '../test/dkim-keys.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';
import { SigningKeys } from './adapters/signing-keys.ts';

const MX = '127.0.0.31';
const SRS_SECRET = 'relay signing test srs secret';
const missing = dkimpyMissing();
if (missing) console.log(`skipping the dkimpy checks: ${missing}`);

let db: TestDatabase;
let redis: Redis;
let dns: FakeDns;
let mx: FakeMx;
let relay: TestRelay;
let keys: StoredKey[];

beforeAll(async () => {
  db = await createTestDatabase();
  redis = queueRedis(baseUrls().redisUrl);
  mx = await startFakeMx([MX]);
  mx.behave(MX, { rcpt: { 'gone@remote.test': 550 } });
  dns = await startFakeDns({ host: '127.0.0.32', records: [{ name: 'mx.remote.test', type: 'A', data: MX }, { name: 'remote.test', type: 'MX', data: { preference: 10, exchange: 'mx.remote.test' } }] });
  keys = await Promise.all([addKey(db, 'example.org', 'ed2025', 'ed25519'), addKey(db, 'example.org', 'rsa2025', 'rsa')]);
  await ensureDomain(db, 'nokeys.org');
  relay = await startRelay({
    db, prefix: redisPrefix(), redis, mx, dns, start: false, logLevel: 'debug',
    env: { RELAY_ALLOW_LOOPBACK_MX: 'true', RELAY_HOSTNAME: 'mx.example.org', DKIM_KEY_ENCRYPTION_KEY: TEST_KEK, SRS_SECRET, RELAY_POOL_IDLE_MS: '0' },
  });
});

afterAll(async () => {
  await relay?.stop();
  await redis?.quit();
  await mx?.stop();
  await dns?.stop();
  await db?.drop();
});

/** A committed message whose recipients routing has marked for the relay; returns its id. */
async function relayed(from: string, headerFrom: string, rcpts: string[], opts: { alias?: string } = {}): Promise<string> {
  const id = newMessageId();
  const raw = Buffer.from(`Received: from client by mx.example.org\r\nFrom: ${headerFrom}\r\nTo: ${rcpts.join(', ')}\r\nSubject: test ${id}\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <${id}@example.org>\r\n\r\nHello.\r\n`);
  if (!opts.alias) {
    await insertMessage(db.pool, { id, raw, mailFrom: from, recipients: rcpts });
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
  } else {
    // What routing leaves for an alias with remote targets: the alias `expanded`, its targets `relay`.
    await insertMessage(db.pool, { id, raw, mailFrom: from, recipients: [opts.alias] });
    await db.pool.query(
      `WITH o AS (UPDATE recipients SET status = 'expanded' WHERE message_id = $1 RETURNING id)
       INSERT INTO recipients (message_id, address, domain, original_id, status, next_attempt_at)
       SELECT $1, t, split_part(t, '@', 2), o.id, 'relay', now() FROM o, unnest($2::text[]) t`,
      [id, rcpts],
    );
  }
  return id;
}

const received = (id: string): MxTransaction => {
  const t = mx.transactions.filter((x) => x.data.includes(Buffer.from(id))).at(-1);
  if (!t) throw new Error(`the MX has nothing for ${id}`);
  return t;
};

async function attempts(id: string): Promise<{ envelopeFrom: string; auth: any }[]> {
  const r = await db.pool.query(`SELECT data FROM message_events WHERE message_id = $1 AND type = 'relay-attempt' ORDER BY id`, [id]);
  return r.rows.map((x) => x.data);
}

describe('DKIM signing', () => {
  it('signs with the From domain\'s Ed25519 and RSA keys; dkimpy verifies both on the bytes received; the trace says so', async () => {
    const id = await relayed('alice@example.org', 'Alice <alice@example.org>', ['bob@remote.test', 'carol@remote.test']);
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    const t = received(id);
    expect(t.to).toEqual(['bob@remote.test', 'carol@remote.test']);
    expect(t.from).toBe('alice@example.org');
    const head = t.data.toString().split('\r\n\r\n')[0]!;
    // one signature per key, whatever the number of recipients
    expect(head.match(/^DKIM-Signature:/gm)).toHaveLength(2);
    if (!missing) {
      const v = await verifyWithDkimpy(t.data, recordsOf(...keys));
      expect(v.signatures.map((s) => [s.domain, s.selector, s.algorithm, s.ok])).toEqual([
        ['example.org', 'ed2025', 'ed25519-sha256', true],
        ['example.org', 'rsa2025', 'rsa-sha256', true],
      ]);
      for (const s of v.signatures) expect(s.headers.toLowerCase().split(':').filter((h) => h.trim() === 'from')).toHaveLength(2);
    }
    expect(await attempts(id)).toEqual([expect.objectContaining({ outcome: 'delivered', envelopeFrom: 'alice@example.org', auth: { dkim: { result: 'signed', domain: 'example.org', selectors: ['ed2025', 'rsa2025'] } } })]);
  });

  it('a subdomain of a domain with keys is signed by the parent (relaxed alignment)', async () => {
    const id = await relayed('news@lists.example.org', 'news@lists.example.org', ['bob@remote.test']);
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    expect((await attempts(id))[0]!.auth.dkim).toEqual({ result: 'signed', domain: 'example.org', selectors: ['ed2025', 'rsa2025'] });
    if (!missing) expect((await verifyWithDkimpy(received(id).data, recordsOf(...keys))).signatures.every((s) => s.ok)).toBe(true);
  });

  it('a domain without keys sends unsigned and the trace says why', async () => {
    const id = await relayed('x@nokeys.org', 'x@nokeys.org', ['bob@remote.test']);
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    expect(received(id).data.toString()).not.toMatch(/^DKIM-Signature/m);
    expect((await attempts(id))[0]!.auth).toEqual({ dkim: { result: 'unsigned', reason: 'no active DKIM key for nokeys.org' } });
  });

  it('a message with two From: fields is not signed', async () => {
    const id = await relayed('alice@example.org', 'alice@example.org\r\nFrom: ceo@bank.example', ['bob@remote.test']);
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    expect((await attempts(id))[0]!.auth).toEqual({ dkim: { result: 'unsigned', reason: 'the message has several From: fields' } });
  });

  it('DSNs are signed: MAILER-DAEMON@mx.example.org by example.org', async () => {
    const id = await relayed('sender@remote.test', 'sender@remote.test', ['gone@remote.test']);
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    expect((await relay.app.sendDsn({ messageId: id, reason: 'failed' })).kind).toBe('sent');
    const dsn = await db.pool.query<{ message_id: string }>(`SELECT message_id FROM recipients WHERE address = 'sender@remote.test' AND message_id <> $1`, [id]);
    const dsnId = dsn.rows[0]!.message_id;
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [dsnId]);
    await relay.app.deliver({ messageId: dsnId, domain: 'remote.test' });
    const t = received(dsnId);
    expect(t.from).toBe('');
    expect((await attempts(dsnId))[0]!.auth.dkim).toEqual({ result: 'signed', domain: 'example.org', selectors: ['ed2025', 'rsa2025'] });
    if (!missing) expect((await verifyWithDkimpy(t.data, recordsOf(...keys))).signatures.map((s) => s.ok)).toEqual([true, true]);
  });
});

describe('forwarding', () => {
  it('an alias target from an outside sender leaves with an SRS sender in the alias domain and an ARC seal dkimpy validates', async () => {
    const id = await relayed('ceo@bank.example', 'CEO <ceo@bank.example>', ['target@remote.test'], { alias: 'fwd@example.org' });
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    const t = received(id);
    expect(t.from).toMatch(/^SRS0=[^=]{4}=[A-Z2-7]{2}=bank\.example=ceo@example\.org$/);
    expect(srsReverse(t.from, { secret: SRS_SECRET, maxAgeDays: 21 }, new Date())).toEqual({ kind: 'ok', address: 'ceo@bank.example' });
    const head = t.data.toString().split('\r\n\r\n')[0]!.replace(/\r\n[ \t]+/g, ' ');
    expect(head).toMatch(/^ARC-Seal: i=1; a=rsa-sha256; t=\d+; cv=none; d=example\.org; s=rsa2025;/);
    expect(head).toMatch(/^ARC-Authentication-Results: i=1; mx\.example\.org; none$/m);
    if (!missing) expect((await verifyWithDkimpy(t.data, recordsOf(...keys))).arc).toMatchObject({ cv: 'pass' });
    const [a] = await attempts(id);
    expect(a).toMatchObject({
      envelopeFrom: t.from,
      auth: { dkim: { result: 'unsigned', reason: 'no active DKIM key for bank.example' }, arc: { result: 'sealed', domain: 'example.org', selector: 'rsa2025', instance: 1, cv: 'none' }, srs: { result: 'rewritten' } },
    });
  });

  it('mail of our own senders through an alias keeps its sender and is not sealed', async () => {
    const id = await relayed('alice@example.org', 'alice@example.org', ['target@remote.test'], { alias: 'fwd2@example.org' });
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    expect(received(id).from).toBe('alice@example.org');
    expect((await attempts(id))[0]!.auth).toEqual({ dkim: { result: 'signed', domain: 'example.org', selectors: ['ed2025', 'rsa2025'] } });
  });
});

describe('key lifecycle at the relay', () => {
  it('the newest active key of each algorithm signs; pending, retired and past-grace keys never do', async () => {
    await addKey(db, 'cycle.org', 'old', 'ed25519', { activatedAgoS: 100, retireInS: 3600 });
    const current = await addKey(db, 'cycle.org', 'new', 'ed25519', { activatedAgoS: 10 });
    await addKey(db, 'cycle.org', 'next', 'ed25519', { status: 'pending' });
    await addKey(db, 'cycle.org', 'gone', 'rsa', { status: 'retired' });
    await addKey(db, 'cycle.org', 'expired', 'rsa', { activatedAgoS: 1000, retireInS: -1 });
    const id = await relayed('a@cycle.org', 'a@cycle.org', ['bob@remote.test']);
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    expect((await attempts(id))[0]!.auth.dkim).toEqual({ result: 'signed', domain: 'cycle.org', selectors: ['new'] });
    if (!missing) expect((await verifyWithDkimpy(received(id).data, recordsOf(current))).signatures.map((s) => s.ok)).toEqual([true]);
  });

  it('a key stored under another KEK is reported and skipped; the mail still goes', async () => {
    await addKey(db, 'otherkek.org', 'k1', 'ed25519', { kek: Buffer.alloc(32, 1).toString('base64') });
    const id = await relayed('a@otherkek.org', 'a@otherkek.org', ['bob@remote.test']);
    await relay.app.deliver({ messageId: id, domain: 'remote.test' });
    expect(received(id).to).toEqual(['bob@remote.test']);
    expect((await attempts(id))[0]!.auth.dkim).toEqual({ result: 'unsigned', reason: 'no active DKIM key for otherkek.org' });
    expect(relay.logs).toContainEqual(expect.objectContaining({ event: 'outbound-relay.dkim-key-unusable', dkimDomain: 'otherkek.org', selector: 'k1' }));
  });

  it('jobs that start together share one look-up: one query, the keys decrypted once, an unusable key reported once', async () => {
    await addKey(db, 'burst.org', 'good', 'ed25519');
    await addKey(db, 'burst.org', 'bad', 'rsa', { kek: Buffer.alloc(32, 1).toString('base64') });
    const signing = new SigningKeys(db.pool, loadKek(TEST_KEK));
    const found = await Promise.all(Array.from({ length: 8 }, () => signing.forDomains(['burst.org'], 7)));
    // Only the look-up that ran reports (cached: false); the others joined it.
    expect(found.filter((f) => !f.cached)).toHaveLength(1);
    expect(found.filter((f) => !f.cached)[0]!.unusable).toMatchObject([{ domain: 'burst.org', selector: 'bad' }]);
    expect(new Set(found.map((f) => f.keys)).size).toBe(1);
    expect(found[0]!.keys.get('burst.org')!.map((k) => k.selector)).toEqual(['good']);
    // Afterwards from the cache; a new epoch reads again.
    expect((await signing.forDomains(['burst.org'], 7)).cached).toBe(true);
    expect((await signing.forDomains(['burst.org'], 8)).cached).toBe(false);
  });

  it('no private key in any log line, trace event or attempt row', async () => {
    const pieces = keys.flatMap(secretPieces);
    expect(pieces.length).toBeGreaterThan(5);
    const events = JSON.stringify((await db.pool.query('SELECT data FROM message_events')).rows);
    const rows = JSON.stringify((await db.pool.query('SELECT * FROM relay_attempts')).rows);
    for (const p of pieces) {
      expect(relay.text()).not.toContain(p);
      expect(events).not.toContain(p);
      expect(rows).not.toContain(p);
    }
    expect(relay.text()).not.toContain(TEST_KEK);
  });
});
