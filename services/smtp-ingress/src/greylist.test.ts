// Greylisting across two smtp-ingress processes sharing Redis, with a fake clock: the first
// attempt is 451 4.7.1 on replica A, an early retry on B too, a retry after the delay on B
// passes, and the triplet is then known to A. Exempt: allowlisted networks, and SPF pass from a
// sender domain on the operator's allowlist (SPF at RCPT through the fake DNS). Odd characters
// and IPv6 in the key; the unit rules beside.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, redisPrefix, startFakeDns, startServiceProcess, type FakeDns, type ServiceProcess, type TestDatabase } from '@hopmail/test-kit';
import { greylistExemption, greylistNetwork, networkList, networkTripletKey, tripletKey } from './policy/greylist-policy.ts';
import { expectCode, seedDirectory, SmtpClient, startIngress, type TestIngress } from '../test/helpers.ts';

const MIN = 60_000;
let clock = Date.parse('2026-12-06T06:00:00Z');
const now = () => new Date(clock);

describe('greylisting across replicas (fake clock)', () => {
  let db: TestDatabase;
  let a: TestIngress;
  let b: TestIngress;
  let allow: TestIngress;
  beforeAll(async () => {
    db = await createTestDatabase();
    await seedDirectory(db.pool);
    const prefix = redisPrefix();
    const env = { GREYLIST_ENABLED: 'true', GREYLIST_DELAY_MS: String(5 * MIN), GREYLIST_WINDOW_MS: String(24 * 60 * MIN), GREYLIST_CLIENT_PASSES: '2' };
    a = await startIngress({ db, prefix, env, now });
    b = await startIngress({ db, prefix, env, now });
    allow = await startIngress({ db, prefix, env: { ...env, GREYLIST_ALLOW_NETWORKS: '10.0.0.0/8,127.0.0.0/8' }, now });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await allow?.stop();
    await db?.drop();
  });

  const rcpt = async (t: TestIngress, from: string, to: string): Promise<string> => {
    const c = await SmtpClient.connect(t.port);
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd(`MAIL FROM:<${from}>`), 250);
    const r = await c.cmd(`RCPT TO:<${to}>`);
    c.close();
    return r;
  };

  it('first attempt 451 4.7.1 on A; early retry 451 on B; after the delay B accepts; then A knows the triplet', async () => {
    expect(await rcpt(a, 'grey@remote.test', 'alice@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
    clock += 2 * MIN;
    expect(await rcpt(b, 'grey@remote.test', 'alice@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
    clock += 4 * MIN;
    expect(await rcpt(b, 'grey@remote.test', 'alice@example.org')).toMatch(/^250 2\.1\.5 /);
    clock += 60 * MIN;
    expect(await rcpt(a, 'grey@remote.test', 'alice@example.org')).toMatch(/^250 2\.1\.5 /);
    // Another recipient is another triplet.
    expect(await rcpt(a, 'grey@remote.test', 'bob@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
    expect(a.logs.some((l) => l.event === 'smtp-ingress.greylisted' && l.to === 'bob@example.org' && l.result === 'new')).toBe(true);
  });

  it('a retry after the window starts over', async () => {
    expect(await rcpt(a, 'late@remote.test', 'carol@example.org')).toMatch(/^451 4\.7\.1 /);
    clock += 25 * 60 * MIN;
    expect(await rcpt(b, 'late@remote.test', 'carol@example.org')).toMatch(/^451 4\.7\.1 /);
    clock += 6 * MIN;
    expect(await rcpt(b, 'late@remote.test', 'carol@example.org')).toMatch(/^250 /);
  });

  it('a client network that passed GREYLIST_CLIENT_PASSES times skips greylisting; odd characters in the sender are fine', async () => {
    // 127.0.0.0/24 passed twice above (grey@ and late@): allowlisted now.
    expect(await rcpt(a, 'o%dd+sender*?=#{}~|@remote.test', 'carol@example.org')).toMatch(/^250 /);
  });

  it('allowlisted networks are never greylisted', async () => {
    expect(await rcpt(allow, 'new-sender@elsewhere.test', 'alice@example.org')).toMatch(/^250 /);
  });
});

// The same across two smtp-ingress OS processes, as `pnpm start` runs them (no fake clock
// there: GREYLIST_DELAY_MS=0, so the retry through the other process passes at once).
describe('greylisting across two smtp-ingress processes', () => {
  let db: TestDatabase;
  const procs: ServiceProcess[] = [];
  beforeAll(async () => {
    db = await createTestDatabase();
    await seedDirectory(db.pool);
    const env = { DATABASE_URL: db.url, REDIS_PREFIX: redisPrefix(), SMTP_HOST: '127.0.0.1', SMTP_PORT: '0', HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0', SMTP_REVERSE_LOOKUP: 'false', INBOUND_AUTH: 'false', GREYLIST_ENABLED: 'true', GREYLIST_DELAY_MS: '0' };
    for (let i = 0; i < 2; i++) procs.push(startServiceProcess('smtp-ingress', env));
    await Promise.all(procs.map((p) => p.ready));
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await db?.drop();
  });

  it('first attempt 451 4.7.1 on process A, the retry on process B passes, and A then knows the triplet', async () => {
    const [a, b] = procs.map((p) => ({ port: p.logs.find((l) => l.event === 'smtp-ingress.listening')!.port as number }) as TestIngress);
    expect(await rcptOn(a!, 'proc@remote.test', 'alice@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
    expect(await rcptOn(b!, 'proc@remote.test', 'alice@example.org')).toMatch(/^250 2\.1\.5 /);
    expect(await rcptOn(a!, 'proc@remote.test', 'alice@example.org')).toMatch(/^250 2\.1\.5 /);
    expect(await rcptOn(b!, 'proc@remote.test', 'bob@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
  });
});

describe('SPF pass from an allowlisted sender domain skips greylisting', () => {
  let db: TestDatabase;
  let dns: FakeDns;
  let t: TestIngress;
  beforeAll(async () => {
    db = await createTestDatabase();
    await seedDirectory(db.pool);
    const txt = (name: string, data: string) => ({ name, type: 'TXT' as const, data });
    dns = await startFakeDns({
      records: [
        txt('partner.test', 'v=spf1 ip4:127.0.0.1 -all'),
        txt('mail.partner.test', 'v=spf1 ip4:127.0.0.0/24 -all'),
        txt('soft.test', 'v=spf1 ~all'),
        txt('forged.test', 'v=spf1 ip4:192.0.2.1 -all'),
        txt('stranger.test', 'v=spf1 ip4:127.0.0.1 -all'),
      ],
      behaviour: { servfail: ['broken.test'] },
    });
    await db.pool.query(`INSERT INTO abuse_list_entries (list, domain, reason) VALUES ('allow', 'partner.test', 'partner'), ('allow', 'soft.test', ''), ('allow', 'forged.test', ''), ('allow', 'broken.test', '')`);
    t = await startIngress({
      db,
      prefix: redisPrefix(),
      now,
      env: { GREYLIST_ENABLED: 'true', GREYLIST_CLIENT_PASSES: '1000', DNS_SERVERS: `${dns.host}:${dns.port}`, DNS_TIMEOUT_MS: '300', DNS_TRIES: '1' },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await dns?.stop();
    await db?.drop();
  });

  it('allowlisted domain (and its subdomain) with SPF pass: accepted at once; SPF asked once per transaction', async () => {
    const c = await SmtpClient.connect(t.port);
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd('MAIL FROM:<news@partner.test>'), 250);
    expect(await c.cmd('RCPT TO:<alice@example.org>')).toMatch(/^250 2\.1\.5 /);
    expect(await c.cmd('RCPT TO:<bob@example.org>')).toMatch(/^250 2\.1\.5 /);
    expectCode(await c.cmd('RSET'), 250);
    expectCode(await c.cmd('MAIL FROM:<x@mail.partner.test>'), 250);
    expect(await c.cmd('RCPT TO:<carol@example.org>')).toMatch(/^250 2\.1\.5 /);
    c.close();
    expect(dns.queries.filter((q) => q.name === 'partner.test' && q.type === 'TXT')).toHaveLength(1);
    expect(t.logs.some((l) => l.event === 'smtp-ingress.greylist-exempt' && l.to === 'alice@example.org' && l.spf === 'pass' && l.reason === 'allowlisted-sender-spf')).toBe(true);
  });

  it.each([
    ['softfail', 'a@soft.test'],
    ['fail', 'a@forged.test'],
    ['temperror', 'a@broken.test'],
  ])('allowlisted domain with SPF %s: 451 4.7.1', async (spf, from) => {
    expect(await rcptOn(t, from, 'alice@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
    expect(t.logs.some((l) => l.event === 'smtp-ingress.greylisted' && l.from === from && l.spf === spf)).toBe(true);
  });

  it('a domain not on the allowlist is greylisted although its SPF passes, and SPF is not asked', async () => {
    expect(await rcptOn(t, 'a@stranger.test', 'alice@example.org')).toBe('451 4.7.1 Greylisted, please try again later');
    expect(dns.queries.some((q) => q.name === 'stranger.test')).toBe(false);
  });
});

async function rcptOn(t: TestIngress, from: string, to: string): Promise<string> {
  const c = await SmtpClient.connect(t.port);
  expectCode(await c.cmd('EHLO client.test'), 250);
  expectCode(await c.cmd(`MAIL FROM:<${from}>`), 250);
  const r = await c.cmd(`RCPT TO:<${to}>`);
  c.close();
  return r;
}

describe('greylist keys', () => {
  it('exemptions: authenticated, allowlisted network, SPF pass (only) from an allowlisted sender domain', () => {
    const base = { authenticated: false, allowlistedNetwork: false, nullSender: false, allowlistedSenderSpf: null };
    expect(greylistExemption(base)).toBeNull();
    expect(greylistExemption({ ...base, authenticated: true })).toBe('authenticated');
    expect(greylistExemption({ ...base, allowlistedNetwork: true })).toBe('allowlisted-network');
    expect(greylistExemption({ ...base, allowlistedSenderSpf: 'pass' })).toBe('allowlisted-sender-spf');
    for (const r of ['fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror'] as const) expect(greylistExemption({ ...base, allowlistedSenderSpf: r })).toBeNull();
  });

  it('groups IPv4 by /24 and IPv6 by /64; IPv4-mapped counts as IPv4', () => {
    expect(greylistNetwork('192.0.2.77')).toBe('192.0.2.0/24');
    expect(greylistNetwork('::ffff:192.0.2.9')).toBe('192.0.2.0/24');
    expect(greylistNetwork('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(tripletKey('192.0.2.1', 'A@x', 'b@Y')).toBe(tripletKey('192.0.2.200', 'a@x', 'b@y'));
    expect(tripletKey('2001:db8::1', 'a@x', 'b@y')).toBe(tripletKey('2001:db8::ffff', 'a@x', 'b@y'));
  });

  it('any octet in the addresses makes a key of the same shape', () => {
    for (const s of ['', '"a b"@x', 'é@ü.example', 'a*b?[c]@x', 'a\r\nb@x', 'x'.repeat(300)]) expect(tripletKey('192.0.2.1', s, 'r@x')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The ingress works the network out once per session: the same key.
    expect(networkTripletKey(greylistNetwork('2001:db8::7'), 'A@x', 'R@x')).toBe(tripletKey('2001:db8::7', 'a@x', 'r@x'));
  });

  it('network lists take addresses and CIDR, v4 and v6', () => {
    const allow = networkList(['10.0.0.0/8', '192.0.2.5', '2001:db8::/32']);
    expect([allow('10.1.2.3'), allow('192.0.2.5'), allow('192.0.2.6'), allow('2001:db8::1'), allow('::ffff:10.0.0.1'), allow('2001:db9::1')]).toEqual([true, true, false, true, true, false]);
    expect(() => networkList(['nonsense'])).toThrow();
  });
});
