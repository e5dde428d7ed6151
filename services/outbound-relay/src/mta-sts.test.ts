// MTA-STS (RFC 8461) and the operator's TLS policy table, end to end in the relay: test DNS
// with _mta-sts TXT records, a local HTTPS policy host and fake MX servers with certificates
// of a test CA that the relay trusts through RELAY_TLS_CA_FILE.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import { createProducer } from '@hopmail/queue';
import { queueRedis } from '@hopmail/service-kit';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { baseUrls, createTestDatabase, redisPrefix, startFakeDns, startFakeMx, waitFor, type FakeDns, type FakeDnsRecord, type FakeMx, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { commitMessage, recipientsOf, type Rcpt } from '../test/mail.ts';
import { startPolicyServer, type PolicyServer } from '../test/mta-sts-server.ts';
import { startRelay, type TestRelay } from '../test/relay-app.ts';

const GOOD = '127.0.0.61'; // certificate of the test CA for mx.sts.test
const SELF = '127.0.0.62'; // self-signed certificate
const NOTLS = '127.0.0.63'; // no STARTTLS
const WEB = '127.0.0.64'; // the policy host
const SOA = { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 };
const MAX_AGE_MS = 4000;

let db: TestDatabase;
let redis: Redis;
let dns: FakeDns;
let mx: FakeMx;
let web: PolicyServer;
let relay: TestRelay;
let producer: ReturnType<typeof createProducer<'deliver-remote'>>;
let selfCert: { key: string; cert: string };
let caCert: string;

const DOMAINS = ['enforce.test', 'nomatch.test', 'selfsigned.test', 'testing.test', 'redirect.test', 'cached.test', 'plain.test', 'pinned.test'];
const policy = (mode: string, mx: string[], maxAge = 86400) => `version: STSv1\r\nmode: ${mode}\nmx: ${mx.join('\r\nmx: ')}\r\nmax_age: ${maxAge}\r\n`;
let records: FakeDnsRecord[];

beforeAll(async () => {
  const ca = createSelfSignedCertificate({ names: ['Hopmail Test CA'], ca: true, days: 30 });
  const good = createSelfSignedCertificate({ names: ['mx.sts.test', 'other-name.sts.test'], issuer: ca });
  selfCert = createSelfSignedCertificate({ names: ['self.sts.test'] });
  const webCert = createSelfSignedCertificate({ names: DOMAINS.map((d) => `mta-sts.${d}`), issuer: ca });
  const dir = mkdtempSync(join(tmpdir(), 'hopmail-sts-'));
  writeFileSync(join(dir, 'ca.pem'), ca.cert);

  db = await createTestDatabase();
  const prefix = redisPrefix();
  redis = queueRedis(baseUrls().redisUrl);
  caCert = ca.cert;
  // GOOD sends its chain (leaf, then the CA) as DANE-TA needs.
  mx = await startFakeMx([GOOD, SELF, NOTLS], { tls: { [GOOD]: { key: good.key, cert: good.cert + ca.cert }, [SELF]: selfCert, [NOTLS]: 'none' } });
  web = await startPolicyServer(WEB, webCert);
  const mxRec = (name: string, exchange: string) => ({ name, type: 'MX' as const, data: { preference: 10, exchange } });
  const sts = (d: string, id: string) => [{ name: `_mta-sts.${d}`, type: 'TXT' as const, data: `v=STSv1; id=${id};` }, { name: `mta-sts.${d}`, type: 'A' as const, data: WEB }];
  records = [
    { name: 'test', type: 'SOA', data: SOA },
    { name: 'mx.sts.test', type: 'A', data: GOOD },
    { name: 'other-name.sts.test', type: 'A', data: GOOD },
    { name: 'rogue.evil.test', type: 'A', data: GOOD },
    { name: 'self.sts.test', type: 'A', data: SELF },
    { name: 'notls.sts.test', type: 'A', data: NOTLS },
    mxRec('enforce.test', 'mx.sts.test'), ...sts('enforce.test', 'e1'),
    mxRec('nomatch.test', 'rogue.evil.test'), ...sts('nomatch.test', 'n1'),
    mxRec('selfsigned.test', 'self.sts.test'), ...sts('selfsigned.test', 's1'),
    mxRec('testing.test', 'self.sts.test'), ...sts('testing.test', 't1'),
    mxRec('redirect.test', 'notls.sts.test'), ...sts('redirect.test', 'r1'),
    mxRec('cached.test', 'mx.sts.test'), ...sts('cached.test', 'c1'),
    mxRec('plain.test', 'notls.sts.test'),
    mxRec('pinned.test', 'self.sts.test'),
    // DANE: TLSA records of MX hosts; AD set (validated) for all but unsigned.dane.test.
    { name: 'ee.dane.test', type: 'A', data: SELF },
    { name: 'bad.dane.test', type: 'A', data: GOOD },
    { name: 'unsigned.dane.test', type: 'A', data: SELF },
    mxRec('dane-ee.test', 'ee.dane.test'),
    mxRec('dane-bad.test', 'bad.dane.test'),
    mxRec('dane-unsigned.test', 'unsigned.dane.test'),
    mxRec('dane-ta.test', 'other-name.sts.test'),
    { name: `_${mx.port}._tcp.ee.dane.test`, type: 'TLSA', data: { usage: 3, selector: 1, matchingType: 1, data: spkiSha256(selfCert.cert) } },
    { name: `_${mx.port}._tcp.ee.dane.test`, type: 'TLSA', data: { usage: 3, selector: 1, matchingType: 9, data: 'ab' } }, // unknown matching type: ignored
    { name: `_${mx.port}._tcp.bad.dane.test`, type: 'TLSA', data: { usage: 3, selector: 1, matchingType: 1, data: '00'.repeat(32) } },
    { name: `_${mx.port}._tcp.unsigned.dane.test`, type: 'TLSA', data: { usage: 3, selector: 1, matchingType: 1, data: '00'.repeat(32) } },
    { name: `_${mx.port}._tcp.other-name.sts.test`, type: 'TLSA', data: { usage: 2, selector: 0, matchingType: 1, data: createHash('sha256').update(new X509Certificate(ca.cert).raw).digest('hex') } },
  ];
  dns = await startFakeDns({ host: '127.0.0.65', records, behaviour: { authenticated: [`_${mx.port}._tcp.ee.dane.test`, `_${mx.port}._tcp.bad.dane.test`, `_${mx.port}._tcp.other-name.sts.test`] } });
  web.answers.set('mta-sts.enforce.test', { body: policy('enforce', ['mx.sts.test']) });
  web.answers.set('mta-sts.nomatch.test', { body: policy('enforce', ['*.sts.test']) });
  web.answers.set('mta-sts.selfsigned.test', { body: policy('enforce', ['*.sts.test']) });
  web.answers.set('mta-sts.testing.test', { body: policy('testing', ['self.sts.test']) });
  web.answers.set('mta-sts.redirect.test', { status: 301, headers: { location: 'https://elsewhere.test/' } });
  web.answers.set('mta-sts.cached.test', { body: policy('enforce', ['mx.sts.test']) });

  relay = await startRelay({ db, prefix, redis, mx, dns, env: {
    DNS_TIMEOUT_MS: '500',
    DNS_TRIES: '1',
    RELAY_ALLOW_LOOPBACK_MX: 'true',
    RELAY_RETRY_SCHEDULE: '200',
    RELAY_MAX_AGE_MS: String(MAX_AGE_MS),
    RELAY_SCHEDULER_INTERVAL_MS: '50',
    RELAY_CONNECT_TIMEOUT_MS: '2000',
    RELAY_GREETING_TIMEOUT_MS: '2000',
    RELAY_POOL_IDLE_MS: '0',
    RELAY_TLS_CA_FILE: join(dir, 'ca.pem'),
    RELAY_MTA_STS_PORT: String(web.port),
    RELAY_MTA_STS_TIMEOUT_MS: '2000',
  } });
  producer = createProducer('deliver-remote', redis, prefix);
});

afterAll(async () => {
  await relay?.stop();
  await producer?.close();
  await mx?.stop();
  await web?.stop();
  await dns?.stop();
  await redis?.quit();
  await db?.drop();
});

afterEach(async () => {
  await db.pool.query(`UPDATE recipients SET status = 'failed' WHERE status IN ('relay', 'deferred')`);
});

const spkiSha256 = (pem: string) => createHash('sha256').update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })).digest('hex');

async function submit(rcpt: string, o: { requireTls?: boolean; tlsRequiredNo?: boolean } = {}): Promise<string> {
  const id = await commitMessage(db, [rcpt]);
  if (o.requireTls) await db.pool.query('UPDATE messages SET require_tls = true WHERE id = $1', [id]);
  if (o.tlsRequiredNo) await db.pool.query(`UPDATE messages SET raw = 'TLS-Required: No'::bytea || decode('0d0a', 'hex') || raw WHERE id = $1`, [id]);
  await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
  await producer.add({ messageId: id, domain: rcpt.split('@')[1]! });
  return id;
}

async function until(id: string, rcpt: string, test: (r: Rcpt) => boolean, timeoutMs = 10_000): Promise<Rcpt> {
  return waitFor(async () => {
    const r = (await recipientsOf(db, id))[rcpt];
    return r && test(r) ? r : undefined;
  }, { timeoutMs, what: `${rcpt} of ${id}` });
}

const txFor = (id: string) => mx.transactions.filter((t) => t.data.toString().includes(id));
const outcomes = async (domain: string) =>
  (await db.pool.query(`SELECT policy_type, policy_string, mx_host, receiving_ip, result_type, count::int FROM tls_outcomes WHERE domain = $1 ORDER BY result_type, mx_host`, [domain])).rows;

describe('MTA-STS', () => {
  it('enforce: delivers to the listed MX over verified TLS, caches the policy in PostgreSQL, counts the success', async () => {
    const id = await submit('bob@enforce.test');
    await until(id, 'bob@enforce.test', (r) => r.status === 'delivered');
    expect(txFor(id)).toEqual([expect.objectContaining({ ip: GOOD, secure: true })]);
    const cached = await db.pool.query(`SELECT policy_id, mode, mx, max_age, expires_at - fetched_at AS age FROM mta_sts_policies WHERE domain = 'enforce.test'`);
    expect(cached.rows).toEqual([{ policy_id: 'e1', mode: 'enforce', mx: ['mx.sts.test'], max_age: 86400, age: expect.objectContaining({ days: 1 }) }]);
    expect(await outcomes('enforce.test')).toEqual([{ policy_type: 'sts', policy_string: 'e1', mx_host: 'mx.sts.test', receiving_ip: GOOD, result_type: '', count: 1 }]);
  });

  it('enforce: an MX the policy does not list gets nothing; deferred with the reason', async () => {
    const id = await submit('bob@nomatch.test');
    const r = await until(id, 'bob@nomatch.test', (x) => x.status === 'deferred');
    expect(r.last_reply).toBe('451 4.7.5 MTA-STS policy of nomatch.test: no MX host matches (MX rogue.evil.test)');
    expect(txFor(id)).toEqual([]);
    expect(mx.connections[GOOD] ?? 0).toBeLessThanOrEqual(1); // only the enforce test's connection
  });

  it('enforce: a self-signed certificate is refused before MAIL FROM, deferred, and bounced with the reason at expiry', async () => {
    const id = await submit('bob@selfsigned.test');
    const deferred = await until(id, 'bob@selfsigned.test', (x) => x.status === 'deferred');
    expect(deferred.last_reply).toBe('451 4.7.5 MTA-STS policy of selfsigned.test: TLS with self.sts.test failed: certificate-not-trusted (DEPTH_ZERO_SELF_SIGNED_CERT)');
    const bounced = await until(id, 'bob@selfsigned.test', (x) => x.status === 'bounced', MAX_AGE_MS + 10_000);
    // Past RELAY_MAX_AGE_MS the bounce keeps the reason for the DSN (as the last deferral's reply,
    // or inside the 4.4.7 expiry reply, depending on which side of the deadline the last try fell).
    expect(bounced.last_reply).toContain(deferred.last_reply);
    expect(txFor(id)).toEqual([]);
    expect((await outcomes('selfsigned.test'))[0]).toMatchObject({ policy_type: 'sts', result_type: 'certificate-not-trusted', mx_host: 'self.sts.test' });
    expect(relay.logs.some((l) => l.event === 'outbound-relay.tls-policy-failed' && l.enforced === true)).toBe(true);
  });

  it('TLS-Required: No (RFC 8689 §5): delivered despite the enforced policy and the self-signed certificate, and logged', async () => {
    const id = await submit('carol@selfsigned.test', { tlsRequiredNo: true });
    await until(id, 'carol@selfsigned.test', (x) => x.status === 'delivered');
    expect(txFor(id)).toEqual([expect.objectContaining({ ip: SELF, secure: true })]);
    expect(relay.logs.some((l) => l.event === 'outbound-relay.tls-required-no' && l.msgId === id)).toBe(true);
  });

  it('TLS-Required: No is ignored on a REQUIRETLS message (RFC 8689 §4.1): not delivered', async () => {
    const id = await submit('dave@selfsigned.test', { tlsRequiredNo: true, requireTls: true });
    const r = await until(id, 'dave@selfsigned.test', (x) => x.status === 'deferred' || x.status === 'bounced');
    expect(r.last_reply).toMatch(/^451 4\.7\.5 MTA-STS policy of selfsigned\.test/);
    expect(txFor(id)).toEqual([]);
    expect(relay.logs.some((l) => l.event === 'outbound-relay.tls-required-no' && l.msgId === id)).toBe(false);
  });

  it('testing: delivers despite the self-signed certificate, and reports the failure', async () => {
    const id = await submit('bob@testing.test');
    await until(id, 'bob@testing.test', (x) => x.status === 'delivered');
    expect(txFor(id)).toEqual([expect.objectContaining({ ip: SELF, secure: true })]);
    expect(await outcomes('testing.test')).toEqual([{ policy_type: 'sts', policy_string: 't1', mx_host: 'self.sts.test', receiving_ip: SELF, result_type: 'certificate-not-trusted', count: 1 }]);
  });

  it('a redirect is refused (RFC 8461 §3.3): no policy, reported as sts-policy-fetch-error, delivered as before', async () => {
    const id = await submit('bob@redirect.test');
    await until(id, 'bob@redirect.test', (x) => x.status === 'delivered');
    expect(txFor(id)).toEqual([expect.objectContaining({ ip: NOTLS, secure: false })]);
    expect(await outcomes('redirect.test')).toEqual([expect.objectContaining({ policy_type: 'sts', result_type: 'sts-policy-fetch-error' })]);
    expect(relay.logs.find((l) => l.event === 'outbound-relay.sts-policy-failed' && l.domain === 'redirect.test')).toMatchObject({ reason: 'HTTP 301 redirect refused (RFC 8461 §3.3)', cached: false });
  });

  it('the cached policy is used while the id holds, and kept when a new id cannot be fetched', async () => {
    const first = await submit('a@cached.test');
    await until(first, 'a@cached.test', (x) => x.status === 'delivered');
    const fetches = () => web.requests.filter((h) => h === 'mta-sts.cached.test').length;
    expect(fetches()).toBe(1);
    const second = await submit('b@cached.test');
    await until(second, 'b@cached.test', (x) => x.status === 'delivered');
    expect(fetches()).toBe(1); // same id: no fetch

    // New id, policy host broken: the cached enforce policy still applies (the MX moved to one it does not list).
    web.answers.delete('mta-sts.cached.test');
    dns.setRecords(records.map((r) => (r.name === '_mta-sts.cached.test' ? { ...r, data: 'v=STSv1; id=c2;' } : r.name === 'cached.test' && r.type === 'MX' ? { ...r, data: { preference: 10, exchange: 'self.sts.test' } } : r)));
    const third = await submit('c@cached.test');
    const r = await until(third, 'c@cached.test', (x) => x.status === 'deferred');
    expect(r.last_reply).toBe('451 4.7.5 MTA-STS policy of cached.test: no MX host matches (MX self.sts.test)');
    expect(fetches()).toBe(2);
    const row = await db.pool.query(`SELECT policy_id, last_error FROM mta_sts_policies WHERE domain = 'cached.test'`);
    expect(row.rows).toEqual([{ policy_id: 'c1', last_error: 'HTTP 404' }]);

    // The policy host is back with the new id: fetched, cached, delivered.
    web.answers.set('mta-sts.cached.test', { body: policy('enforce', ['self.sts.test', 'mx.sts.test']) });
    await db.pool.query(`INSERT INTO tls_policies (domain, policy, fingerprints) VALUES ('cached.test', 'verify', $1)`, [[new X509Certificate(selfCert.cert).fingerprint256.replace(/:/g, '').toLowerCase()]]);
    await db.pool.query(`UPDATE recipients SET next_attempt_at = now() WHERE message_id = $1`, [third]);
    await producer.add({ messageId: third, domain: 'cached.test' });
    await until(third, 'c@cached.test', (x) => x.status === 'delivered');
  });
});

describe('DANE (RFC 7672)', () => {
  it('DANE-EE 3 1 1: a self-signed certificate whose key matches delivers; an unknown matching type is ignored', async () => {
    const id = await submit('a@dane-ee.test');
    await until(id, 'a@dane-ee.test', (x) => x.status === 'delivered');
    expect(txFor(id)).toEqual([expect.objectContaining({ ip: SELF, secure: true })]);
    expect(await outcomes('dane-ee.test')).toEqual([expect.objectContaining({ policy_type: 'tlsa', result_type: '', count: 1 })]);
  });

  it('a certificate no validated TLSA record matches is refused before MAIL FROM and deferred with the reason', async () => {
    const id = await submit('a@dane-bad.test');
    const r = await until(id, 'a@dane-bad.test', (x) => x.status === 'deferred');
    expect(r.last_reply).toBe('451 4.7.5 DANE (TLSA of bad.dane.test): TLS with bad.dane.test failed: validation-failure (no TLSA record matches the certificate (3 1 1))');
    expect(txFor(id)).toEqual([]);
  });

  it('TLSA records that did not validate (no AD) are not used: the domain\'s policy applies', async () => {
    const id = await submit('a@dane-unsigned.test');
    await until(id, 'a@dane-unsigned.test', (x) => x.status === 'delivered');
  });

  it('REQUIRETLS is satisfied by DANE alone (no MTA-STS policy)', async () => {
    const id = await submit('rt@dane-ee.test', { requireTls: true });
    await until(id, 'rt@dane-ee.test', (x) => x.status === 'delivered');
    expect(txFor(id)).toEqual([expect.objectContaining({ ip: SELF, secure: true, params: expect.objectContaining({ REQUIRETLS: true }) })]);
  });

  it('DANE-TA 2 0 1: the CA in the chain the server sent matches, and the certificate names the MX host', async () => {
    const id = await submit('a@dane-ta.test');
    await until(id, 'a@dane-ta.test', (x) => x.status === 'delivered');
    expect(txFor(id)).toEqual([expect.objectContaining({ ip: GOOD, secure: true })]);
    expect(caCert).toContain('BEGIN CERTIFICATE');
  });
});

describe('REQUIRETLS (RFC 8689)', () => {
  it('goes out under an enforced MTA-STS policy with REQUIRETLS on MAIL FROM; without a policy it bounces 5.7.30', async () => {
    const ok = await submit('rt@enforce.test', { requireTls: true });
    await until(ok, 'rt@enforce.test', (x) => x.status === 'delivered');
    expect(txFor(ok)).toEqual([expect.objectContaining({ secure: true, params: expect.objectContaining({ REQUIRETLS: true }) })]);
    const no = await submit('rt@redirect.test', { requireTls: true });
    const r = await until(no, 'rt@redirect.test', (x) => x.status === 'bounced');
    expect(r.last_reply).toBe('550 5.7.30 REQUIRETLS: no MTA-STS (enforce) or DANE policy of redirect.test lets TLS be verified (RFC 8689)');
    expect(txFor(no)).toEqual([]);
  });
});

describe('the operator\'s TLS policy table', () => {
  it('none: plaintext even where STARTTLS is offered; encrypt: refuses a server without STARTTLS', async () => {
    await db.pool.query(`INSERT INTO tls_policies (domain, policy) VALUES ('testing.test', 'none'), ('plain.test', 'encrypt')`);
    const a = await submit('none@testing.test');
    await until(a, 'none@testing.test', (x) => x.status === 'delivered');
    expect(txFor(a)).toEqual([expect.objectContaining({ ip: SELF, secure: false })]);
    const b = await submit('enc@plain.test');
    const r = await until(b, 'enc@plain.test', (x) => x.status === 'deferred');
    expect(r.last_reply).toMatch(/^451 4\.7\.5 TLS policy for plain\.test \(encrypt\): TLS with notls\.sts\.test failed: starttls-not-supported/);
    expect(txFor(b)).toEqual([]);
  });

  it('verify with a pinned fingerprint accepts that self-signed certificate and no other', async () => {
    const pin = new X509Certificate(selfCert.cert).fingerprint256.replace(/:/g, '').toLowerCase();
    await db.pool.query(`INSERT INTO tls_policies (domain, policy, fingerprints) VALUES ('pinned.test', 'verify', $1)`, [[pin]]);
    const a = await submit('ok@pinned.test');
    await until(a, 'ok@pinned.test', (x) => x.status === 'delivered');
    expect(txFor(a)).toEqual([expect.objectContaining({ ip: SELF, secure: true })]);
    await db.pool.query(`UPDATE tls_policies SET fingerprints = $1 WHERE domain = 'pinned.test'`, [['00'.repeat(32)]]);
    const b = await submit('no@pinned.test');
    const r = await until(b, 'no@pinned.test', (x) => x.status === 'deferred');
    expect(r.last_reply).toMatch(/^451 4\.7\.5 TLS policy for pinned\.test \(verify\): TLS with self\.sts\.test failed: certificate-not-trusted \(certificate SHA-256 [0-9a-f]{64} is not pinned\)$/);
  });
});
