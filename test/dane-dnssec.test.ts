// DANE against real DNSSEC: a test zone signed with BIND's dnssec-signzone, served and
// validated by unbound (auth-zone, trust anchor = the zone's key), dns-cache in front of it
// with unbound marked validating, and the relay delivering to fake MX servers whose
// certificates the TLSA records match, or not. A TLSA answer whose signature does not
// validate (a record changed after signing) while the MX host's address records do makes
// that host unusable (RFC 7672 §2.2.2): the next MX is tried, else the delivery is deferred.
// A zone that is not signed at all falls back to the domain's other policies.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queueRedis } from '@hopmail/service-kit';
import { createProducer } from '@hopmail/queue';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { baseUrls, createTestDatabase, freePort, redisPrefix, startFakeMx, waitFor, type FakeMx, type TestDatabase } from '@hopmail/test-kit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCache, type TestCache } from '../services/dns-cache/test/support.ts';
import { commitMessage, recipientsOf } from '../services/outbound-relay/test/mail.ts';
import { startRelay, type TestRelay } from '../services/outbound-relay/test/relay-app.ts';

const TOOLS = ['/usr/sbin/unbound', '/usr/bin/dnssec-keygen', '/usr/bin/dnssec-signzone'];
const missing = TOOLS.filter((t) => !existsSync(t));
if (missing.length) console.log(`dane-dnssec.test.ts skipped: ${missing.join(', ')} not installed (Debian packages unbound and bind9-dnsutils/bind9 tools)`);

const MX_OK = '127.0.0.101';
const MX_BAD = '127.0.0.102';
const UNBOUND = '127.0.0.103';

let dir: string;
let unbound: ChildProcess | undefined;
let db: TestDatabase;
let redis: Redis;
let mx: FakeMx;
let cache: TestCache;
let relay: TestRelay;
let producer: ReturnType<typeof createProducer<'deliver-remote'>>;

function sign(zone: string, text: string): string {
  const zfile = join(dir, `${zone}.zone`);
  writeFileSync(zfile, text);
  const key = spawnSync('/usr/bin/dnssec-keygen', ['-q', '-K', dir, '-a', 'ECDSAP256SHA256', '-f', 'KSK', '-n', 'ZONE', zone], { encoding: 'utf8' });
  if (key.status !== 0) throw new Error(`dnssec-keygen: ${key.stderr}`);
  const signed = join(dir, `${zone}.signed`);
  const s = spawnSync('/usr/bin/dnssec-signzone', ['-q', '-z', '-S', '-K', dir, '-o', zone, '-f', signed, zfile], { encoding: 'utf8', cwd: dir });
  if (s.status !== 0) throw new Error(`dnssec-signzone: ${s.stderr}`);
  return signed;
}

describe.skipIf(missing.length > 0)('DANE with a DNSSEC-signed zone and a validating unbound', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hopmail-dnssec-'));
    const ca = createSelfSignedCertificate({ names: ['DANE Test CA'], ca: true });
    const okCert = createSelfSignedCertificate({ names: ['mx.ok.dane.test'], issuer: ca });
    const badCert = createSelfSignedCertificate({ names: ['mx.bad.dane.test'] });
    mx = await startFakeMx([MX_OK, MX_BAD], { tls: { [MX_OK]: okCert, [MX_BAD]: badCert } });
    const spki = (pem: string) => createHash('sha256').update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
    const p = mx.port;
    const signed = sign('dane.test', [
      '$TTL 300',
      '@ IN SOA ns.dane.test. hostmaster.dane.test. 1 60 60 600 60',
      '@ IN NS ns.dane.test.',
      `ns IN A ${UNBOUND}`,
      'ok IN MX 10 mx.ok.dane.test.',
      'bad IN MX 10 mx.bad.dane.test.',
      `mx.ok IN A ${MX_OK}`,
      `mx.bad IN A ${MX_BAD}`,
      `_${p}._tcp.mx.ok IN TLSA 3 1 1 ${spki(okCert.cert)}`,
      // The self-signed certificate of mx.bad is not the one its TLSA record names.
      `_${p}._tcp.mx.bad IN TLSA 3 1 1 ${'00'.repeat(32)}`,
      '',
    ].join('\n'));
    const brokenSigned = sign('broken.test', [
      '$TTL 300',
      '@ IN SOA ns.broken.test. hostmaster.broken.test. 1 60 60 600 60',
      '@ IN NS ns.broken.test.',
      `ns IN A ${UNBOUND}`,
      '@ IN MX 10 mx.broken.test.',
      `mx IN A ${MX_BAD}`,
      `_${p}._tcp.mx IN TLSA 3 1 1 ${'11'.repeat(32)}`,
      // The same unusable host first, then one with no TLSA record (a validated denial).
      'next IN MX 10 mx.broken.test.',
      'next IN MX 20 mx2.broken.test.',
      `mx2 IN A ${MX_OK}`,
      '',
    ].join('\n'));
    // Not signed, and no trust anchor covers it: answers without AD (insecure).
    const plain = join(dir, 'plain.test.zone');
    writeFileSync(plain, [
      '$TTL 300',
      '@ IN SOA ns.plain.test. hostmaster.plain.test. 1 60 60 600 60',
      '@ IN NS ns.plain.test.',
      `ns IN A ${UNBOUND}`,
      '@ IN MX 10 mx.plain.test.',
      `mx IN A ${MX_BAD}`,
      `_${p}._tcp.mx IN TLSA 3 1 1 ${'22'.repeat(32)}`,
      '',
    ].join('\n'));
    // After signing: the TLSA data no longer matches its RRSIG, so validation fails (bogus).
    const original = readFileSync(brokenSigned, 'utf8');
    const tampered = original.replace(/TLSA\t3 1 1 \(\n(\s+)1111/, 'TLSA\t3 1 1 (\n$1abab');
    if (tampered === original) throw new Error('the signed zone has an unexpected layout: nothing was tampered with');
    writeFileSync(brokenSigned, tampered);
    const anchors = readdirSync(dir).filter((f) => /^K.*\.key$/.test(f)).map((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l && !l.startsWith(';')).join('\n'));
    writeFileSync(join(dir, 'anchors.key'), anchors.join('\n') + '\n');
    const port = await freePort(UNBOUND);
    writeFileSync(join(dir, 'unbound.conf'), [
      'server:',
      `  interface: ${UNBOUND}`,
      `  port: ${port}`,
      '  do-daemonize: no', '  username: ""', '  chroot: ""', `  directory: "${dir}"`, '  pidfile: ""', '  use-syslog: no', '  logfile: ""', '  verbosity: 0',
      '  access-control: 127.0.0.0/8 allow', '  do-not-query-localhost: no', '  module-config: "validator iterator"',
      `  trust-anchor-file: "${join(dir, 'anchors.key')}"`,
      // .test is a special-use name unbound answers NXDOMAIN for by default (RFC 6761).
      '  local-zone: "test." nodefault',
      'auth-zone:', '  name: "dane.test."', `  zonefile: "${signed}"`, '  for-upstream: yes', '  for-downstream: no', '  fallback-enabled: no',
      'auth-zone:', '  name: "broken.test."', `  zonefile: "${brokenSigned}"`, '  for-upstream: yes', '  for-downstream: no', '  fallback-enabled: no',
      'auth-zone:', '  name: "plain.test."', `  zonefile: "${plain}"`, '  for-upstream: yes', '  for-downstream: no', '  fallback-enabled: no',
      '',
    ].join('\n'));
    unbound = spawn('/usr/sbin/unbound', ['-d', '-c', join(dir, 'unbound.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    unbound.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    cache = await startTestCache({ upstreams: [{ host: UNBOUND, port }], redisUrl: baseUrls().redisUrl, prefix: redisPrefix(), env: { DNS_VALIDATING_UPSTREAMS: `${UNBOUND}:${port}`, DNS_UPSTREAM_TIMEOUT_MS: '1000' } });
    // unbound is up once it answers.
    await waitFor(async () => ((await cache.resolver.resolve4('ns.dane.test').catch(() => [])).length ? true : undefined), { timeoutMs: 10_000, what: `unbound on ${UNBOUND}:${port} (${stderr})` });

    db = await createTestDatabase();
    redis = queueRedis(baseUrls().redisUrl);
    const prefix = redisPrefix();
    relay = await startRelay({ db, prefix, redis, mx, dns: { host: '127.0.0.1', port: cache.port }, env: {
      DNS_TIMEOUT_MS: '2000', DNS_TRIES: '1', RELAY_ALLOW_LOOPBACK_MX: 'true', RELAY_RETRY_SCHEDULE: '60000', RELAY_SCHEDULER_INTERVAL_MS: '50', RELAY_POOL_IDLE_MS: '0',
    } });
    producer = createProducer('deliver-remote', redis, prefix);
  }, 60_000);

  afterAll(async () => {
    await relay?.stop();
    await producer?.close();
    await redis?.quit();
    await db?.drop();
    await cache?.stop();
    await mx?.stop();
    unbound?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function deliver(rcpt: string, want: string) {
    const id = await commitMessage(db, [rcpt]);
    await db.pool.query(`UPDATE recipients SET status = 'relay', next_attempt_at = now() WHERE message_id = $1`, [id]);
    await producer.add({ messageId: id, domain: rcpt.split('@')[1]! });
    const r = await waitFor(async () => {
      const x = (await recipientsOf(db, id))[rcpt];
      return x && x.status === want ? x : undefined;
    }, { timeoutMs: 15_000, what: `${rcpt} ${want}` });
    return { id, r, tx: mx.transactions.filter((t) => t.data.toString().includes(id)) };
  }

  it('a certificate the validated TLSA record matches: delivered over TLS, counted as tlsa', async () => {
    const { tx } = await deliver('a@ok.dane.test', 'delivered');
    expect(tx).toEqual([expect.objectContaining({ ip: MX_OK, secure: true })]);
    const o = await db.pool.query(`SELECT policy_type, result_type FROM tls_outcomes WHERE domain = 'ok.dane.test'`);
    expect(o.rows).toEqual([{ policy_type: 'tlsa', result_type: '' }]);
  });

  it('a mismatch defers with the reason, before MAIL FROM', async () => {
    const { r, tx } = await deliver('a@bad.dane.test', 'deferred');
    expect(r.last_reply).toMatch(/^451 4\.7\.5 DANE \(TLSA of mx\.bad\.dane\.test\): TLS with mx\.bad\.dane\.test failed: validation-failure \(no TLSA record matches the certificate \(3 1 1\)\)$/);
    expect(tx).toEqual([]);
  });

  it('a TLSA answer that does not validate while the address records do: the MX host is skipped, and with no other MX the delivery is deferred with the DANE reason', async () => {
    const { r, tx } = await deliver('a@broken.test', 'deferred');
    expect(r.last_reply).toMatch(/^451 4\.7\.5 DANE: TLSA look-up of _\d+\._tcp\.mx\.broken\.test failed \(RCODE2\) and the addresses of mx\.broken\.test are DNSSEC-signed: not used without DANE \(RFC 7672 §2\.2\.2\)$/);
    // Never delivered without DANE: no session reached MAIL FROM.
    expect(tx).toEqual([]);
    const o = await db.pool.query(`SELECT policy_type, mx_host, result_type FROM tls_outcomes WHERE domain = 'broken.test'`);
    expect(o.rows).toEqual([{ policy_type: 'tlsa', mx_host: 'mx.broken.test', result_type: 'dnssec-invalid' }]);
  });

  it('the same unusable host as the first MX: the delivery goes to the next MX', async () => {
    const { tx } = await deliver('a@next.broken.test', 'delivered');
    expect(tx).toEqual([expect.objectContaining({ ip: MX_OK })]);
  });

  it('a zone that is not signed: its TLSA records are not used, delivery falls back to opportunistic TLS', async () => {
    const { tx } = await deliver('a@plain.test', 'delivered');
    expect(tx).toEqual([expect.objectContaining({ ip: MX_BAD })]);
    const o = await db.pool.query(`SELECT policy_type FROM tls_outcomes WHERE domain = 'plain.test'`);
    expect(o.rows.map((x) => x.policy_type)).not.toContain('tlsa');
  });
});
