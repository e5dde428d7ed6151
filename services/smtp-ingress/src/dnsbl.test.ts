// DNS blocklists and allowlists through a test DNS on 127.0.0.x: a listed client (127.0.0.1)
// gets 554 5.7.1 naming the list at RCPT (after a normal greeting), an unlisted one
// (127.0.0.2) is served, a list answering 127.255.255.254 (query refused) counts as no
// listing and is logged, an allowlisted client (127.0.0.3) skips greylisting; an IPv6 client
// (::1) listed and not listed. Unit rules beside.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDnsClient } from '@hopmail/dns-client';
import { startFakeDns, waitFor, type FakeDns } from '@hopmail/test-kit';
import { createDnsblLookup } from './adapters/dnsbl.ts';
import { classifyAnswer, dnsblQueryName, dnsblVerdict, parseDnsblSites } from './policy/dnsbl-policy.ts';
import { expectCode, SmtpClient, startIngress, type TestIngress } from '../test/helpers.ts';

describe('DNSBL at connect, refused at RCPT', () => {
  let dns: FakeDns;
  let t: TestIngress;
  beforeAll(async () => {
    dns = await startFakeDns({
      host: '127.0.0.53',
      records: [
        { name: '1.0.0.127.bl.test', type: 'A', data: '127.0.0.2' },
        { name: '1.0.0.127.refusing.test', type: 'A', data: '127.255.255.254' },
        { name: '2.0.0.127.refusing.test', type: 'A', data: '127.255.255.254' },
        { name: '3.0.0.127.wl.test', type: 'A', data: '127.0.10.2' },
        // A code the pattern does not count.
        { name: '2.0.0.127.bl.test', type: 'TXT', data: 'not an A record' },
      ],
    });
    t = await startIngress({
      env: {
        DNS_SERVERS: `${dns.host}:${dns.port}`,
        DNSBL_SITES: 'bl.test=127.0.0.[2..11]*3,refusing.test*3,wl.test=127.0.[0..255].[1..3]*-2',
        DNSBL_THRESHOLD: '3',
        GREYLIST_ENABLED: 'true',
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await dns?.stop();
  });

  const rcpt = async (local: string): Promise<string> => {
    const c = await SmtpClient.connect(t.port, '127.0.0.1', local);
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd('MAIL FROM:<s@remote.test>'), 250);
    const r = await c.cmd('RCPT TO:<alice@example.org>');
    c.close();
    return r;
  };

  it('a listed client is greeted, then refused 554 5.7.1 naming the list at RCPT', async () => {
    expect(await rcpt('127.0.0.1')).toBe('554 5.7.1 Service unavailable; client [127.0.0.1] blocked using bl.test');
    expect(t.logs.some((l) => l.event === 'smtp-ingress.dnsbl-blocked' && JSON.stringify(l.zones) === '["bl.test"]' && l.score === 3)).toBe(true);
  });

  it('an unlisted client is not refused (greylisted as any other); the refused answer is logged, not counted', async () => {
    expect(await rcpt('127.0.0.2')).toBe('451 4.7.1 Greylisted, please try again later');
    expect(t.logs.some((l) => l.event === 'smtp-ingress.dnsbl-problem' && l.zone === 'refusing.test' && String(l.problem).includes('127.255.255.254'))).toBe(true);
  });

  it('an allowlisted client (negative weight) skips greylisting', async () => {
    expect(await rcpt('127.0.0.3')).toMatch(/^250 2\.1\.5 /);
  });
});

// An IPv6 client over a real socket (::1): its nibble-reversed name (RFC 5782 §2.4) is asked,
// a listing refuses it at RCPT, and greylisting keys it by its /64 and records it for the trace.
describe('IPv6 client (::1)', () => {
  let dns: FakeDns;
  let listed: TestIngress;
  let clean: TestIngress;
  beforeAll(async () => {
    dns = await startFakeDns({ records: [{ name: dnsblQueryName('::1', 'bl6.test')!, type: 'A', data: '127.0.0.2' }] });
    const env = { SMTP_HOST: '::1', DNS_SERVERS: `${dns.host}:${dns.port}`, GREYLIST_ENABLED: 'true', GREYLIST_DELAY_MS: '0' };
    listed = await startIngress({ env: { ...env, DNSBL_SITES: 'bl6.test' } });
    clean = await startIngress({ env: { ...env, DNSBL_SITES: 'other6.test' } });
  });
  afterAll(async () => {
    await listed?.stop();
    await clean?.stop();
    await dns?.stop();
  });

  const rcpt = async (t: TestIngress): Promise<string> => {
    const c = await SmtpClient.connect(t.port, '::1');
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd('MAIL FROM:<s@remote.test>'), 250);
    const r = await c.cmd('RCPT TO:<alice@example.org>');
    c.close();
    return r;
  };

  it('listed: 554 5.7.1 naming the list and the IPv6 address', async () => {
    expect(await rcpt(listed)).toBe('554 5.7.1 Service unavailable; client [::1] blocked using bl6.test');
  });

  it('not listed: greylisted by /64 (451 4.7.1), the retry passes, and the refusal is recorded with the IPv6 address', async () => {
    expect(await rcpt(clean)).toBe('451 4.7.1 Greylisted, please try again later');
    expect(await rcpt(clean)).toMatch(/^250 2\.1\.5 /);
    expect(dns.queries.some((q) => q.name === dnsblQueryName('::1', 'other6.test'))).toBe(true);
    await waitFor(async () => (await clean.pool.query(`SELECT 1 FROM smtp_refusals WHERE client_ip = '::1' AND reason = 'greylisted'`)).rowCount === 1);
  });
});

describe('DNSBL results kept per process (DNSBL_CACHE_MS)', () => {
  it('a reconnecting client asks the lists once; a failed look-up is asked again; 0 keeps nothing', async () => {
    const dns = await startFakeDns({ records: [{ name: '9.2.0.192.bl.test', type: 'A', data: '127.0.0.2' }], behaviour: { servfail: ['7.2.0.192.bl.test'] } });
    try {
      const client = createDnsClient({ servers: [`${dns.host}:${dns.port}`], timeoutMs: 300, tries: 1 });
      const sites = parseDnsblSites('bl.test');
      const problems: string[] = [];
      const kept = createDnsblLookup({ dns: client, sites, cacheMs: 60_000, onProblem: (_s, p) => problems.push(p) });
      const asked = (name: string) => dns.queries.filter((q) => q.name === name).length;
      expect((await kept('192.0.2.9')).score).toBe(1);
      expect((await kept('192.0.2.9')).score).toBe(1);
      expect(asked('9.2.0.192.bl.test')).toBe(1);
      expect((await kept('192.0.2.7')).score).toBe(0);
      expect((await kept('192.0.2.7')).score).toBe(0);
      expect(asked('7.2.0.192.bl.test')).toBe(2);
      expect(problems).toHaveLength(2);
      const fresh = createDnsblLookup({ dns: client, sites, cacheMs: 0, onProblem: () => {} });
      await fresh('192.0.2.9');
      await fresh('192.0.2.9');
      expect(asked('9.2.0.192.bl.test')).toBe(3);
    } finally {
      await dns.stop();
    }
  });
});

describe('DNSBL rules', () => {
  it('parses postscreen syntax; rejects nonsense', () => {
    const [zen, cop, wl] = parseDnsblSites('zen.spamhaus.org=127.0.0.[2..11]*3, bl.spamcop.net*2, list.dnswl.org=127.0.[0..255].[1;2;3]*-2');
    expect([zen!.zone, zen!.weight, cop!.zone, cop!.weight, cop!.codes, wl!.weight]).toEqual(['zen.spamhaus.org', 3, 'bl.spamcop.net', 2, null, -2]);
    expect(classifyAnswer(zen!, '127.0.0.4')).toBe('listed');
    expect(classifyAnswer(zen!, '127.0.0.12')).toBe('not-listed');
    expect(classifyAnswer(wl!, '127.0.9.3')).toBe('listed');
    expect(classifyAnswer(wl!, '127.0.9.4')).toBe('not-listed');
    expect(classifyAnswer(cop!, '127.255.255.254')).toBe('refused');
    expect(classifyAnswer(cop!, '192.0.2.1')).toBe('invalid');
    for (const bad of ['-x.test', 'a.test=127.0.0', 'a.test=127.0.0.[x]', 'a.test*w']) expect(() => parseDnsblSites(bad), bad).toThrow();
    expect(parseDnsblSites('')).toEqual([]);
  });

  it('query names for IPv4, IPv4-mapped and IPv6 (RFC 5782)', () => {
    expect(dnsblQueryName('192.0.2.99', 'bl.test')).toBe('99.2.0.192.bl.test');
    expect(dnsblQueryName('::ffff:192.0.2.99', 'bl.test')).toBe('99.2.0.192.bl.test');
    expect(dnsblQueryName('2001:db8:1:2:3:4:567:89ab', 'bl.test')).toBe('b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test');
    expect(dnsblQueryName('2001:db8::1', 'bl.test')).toBe(`1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.bl.test`);
    expect(dnsblQueryName('not-an-ip', 'bl.test')).toBeNull();
  });

  it('threshold: below accepts, at or above names the heaviest list', () => {
    const [a, b] = parseDnsblSites('a.test*1,b.test*3');
    expect(dnsblVerdict({ score: 1, listedBy: [a!] }, 2, '192.0.2.1').kind).toBe('accept');
    expect(dnsblVerdict({ score: 4, listedBy: [a!, b!] }, 2, '192.0.2.1')).toMatchObject({ code: 554, enhanced: '5.7.1', text: 'Service unavailable; client [192.0.2.1] blocked using b.test' });
  });
});
