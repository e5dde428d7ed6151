// The adapter's own parts, without DNS servers: the resolver wrapper, the signature cap and
// the time limit (mail-auth-in.test.ts runs the whole thing against fake DNS).
import { describe, expect, it } from 'vitest';
import { createDnsClient, type DnsClient } from '@hopmail/dns-client';
import { startFakeDns } from '@hopmail/test-kit';
import { authResolver, capSignatures, createMailAuthenticator } from './mail-authenticator.ts';

const asked: string[] = [];
const dns = (resolve: DnsClient['resolve']): DnsClient => ({ resolve, mx: async () => ({ ok: false, kind: 'nodata', code: 'ENODATA' }), addresses: async () => ({ ok: false, kind: 'nodata', code: 'ENODATA' }), txt: async () => ({ ok: false, kind: 'nodata', code: 'ENODATA' }) });

describe('authResolver', () => {
  const resolve = authResolver(dns(async (name) => (asked.push(name), [['v=spf1 -all']])));
  it('asks A-labels (RFC 8616), lower case, without the final dot', async () => {
    await resolve('Sélecteur._domainkey.Bücher.example.', 'TXT');
    await resolve('S1._domainkey.Example.ORG', 'TXT');
    expect(asked.slice(-2)).toEqual(['xn--slecteur-b1a._domainkey.xn--bcher-kva.example', 's1._domainkey.example.org']);
  });
  it.each(['a..b', '', 'x'.repeat(64) + '.test', 'a b.test', `${'a.'.repeat(130)}test`])('a name that cannot exist (%j) is ENOTFOUND, not temporary', async (name) => {
    await expect(resolve(name, 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('capSignatures', () => {
  const sig = (i: number) => `DKIM-Signature: v=1; d=a.test; s=s${i};\r\n\tb=AAAA\r\n`;
  it('keeps the first N signature fields (folded lines with them) and every other byte', () => {
    const raw = Buffer.from(`${sig(1)}From: a\r\n${sig(2)}${sig(3)}Subject: x\r\n\r\nbody\r\nDKIM-Signature: in the body\r\n`);
    const out = capSignatures(raw, 2);
    expect(out.skipped).toBe(1);
    expect(out.raw.toString()).toBe(`${sig(1)}From: a\r\n${sig(2)}Subject: x\r\n\r\nbody\r\nDKIM-Signature: in the body\r\n`);
    expect(capSignatures(raw, 3).raw).toBe(raw);
  });
});

describe('the time limit', () => {
  it('a resolver that never answers gives temperror for every check within INBOUND_AUTH_TIMEOUT_MS', async () => {
    const auth = createMailAuthenticator({ dns: dns(() => new Promise(() => {})), authservId: 'mx.test', timeoutMs: 300, maxSignatures: 10, minRsaBits: 1024 });
    const t0 = Date.now();
    const r = await auth.check({ raw: Buffer.from('From: a@b.test\r\n\r\nx\r\n'), mailFrom: 'a@b.test', helo: 'h.test', remoteIp: '192.0.2.1' });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect([r.spf.result, r.dmarc.result, r.arc.result]).toEqual(['temperror', 'temperror', 'temperror']);
    expect(r.header).toMatch(/^mx\.test;\r\n spf=temperror \(time limit\)/);
  });
});

describe('the process-local DNS memo', () => {
  it('answers and NXDOMAIN are reused for cacheMs; temporary failures are asked again', async () => {
    const calls: string[] = [];
    let fail = true;
    const resolve = authResolver(
      dns(async (name) => {
        calls.push(name);
        if (name === 'nx.test') throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
        if (name === 'flaky.test' && fail) throw Object.assign(new Error('t'), { code: 'ETIMEOUT' });
        return [['x']];
      }),
      60_000,
    );
    await Promise.all([resolve('a.test', 'TXT'), resolve('A.test.', 'TXT')]);
    await resolve('a.test', 'TXT');
    await expect(resolve('nx.test', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolve('nx.test', 'TXT')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolve('flaky.test', 'TXT')).rejects.toMatchObject({ code: 'ETIMEOUT' });
    fail = false;
    await expect(resolve('flaky.test', 'TXT')).resolves.toEqual([['x']]);
    expect(calls).toEqual(['a.test', 'nx.test', 'flaky.test', 'flaky.test']);
  });
});

describe('the memo honours the answer\'s TTL (dns-cache passes it on), at most cacheMs', () => {
  it('a 1 s record is asked again after 1 s; a 1 h record only after cacheMs; NXDOMAIN after its SOA negative TTL, or cacheMs without an SOA', async () => {
    const fake = await startFakeDns({
      host: '127.0.0.94',
      records: [
        { name: 'short.ttl.test', type: 'TXT', data: 'v=spf1 -all', ttl: 1 },
        { name: 'long.ttl.test', type: 'TXT', data: 'v=DMARC1; p=reject', ttl: 3600 },
      ],
      zoneSoa: { name: 'ttl.test', ttl: 3600, data: { mname: 'ns.ttl.test', rname: 'hostmaster.ttl.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 2 } },
    });
    try {
      let clock = 1_000_000;
      const resolve = authResolver(createDnsClient({ servers: [`${fake.host}:${fake.port}`], timeoutMs: 1000, tries: 1 }), 60_000, () => clock);
      const asked = (name: string) => fake.queries.filter((q) => q.name === name).length;
      const code = (err: { code?: string }) => err.code;
      const all = () => Promise.all([resolve('short.ttl.test', 'TXT'), resolve('long.ttl.test', 'TXT'), resolve('nx.ttl.test', 'TXT').catch(code), resolve('nx.elsewhere.test', 'TXT').catch(code)]);
      expect(await all()).toEqual([[['v=spf1 -all']], [['v=DMARC1; p=reject']], 'ENOTFOUND', 'ENOTFOUND']);
      const counts = () => [asked('short.ttl.test'), asked('long.ttl.test'), asked('nx.ttl.test'), asked('nx.elsewhere.test')];
      expect(counts()).toEqual([1, 1, 1, 1]);
      clock += 999;
      await all();
      expect(counts()).toEqual([1, 1, 1, 1]);
      clock += 2; // 1.001 s: the 1 s answer has expired
      await all();
      expect(counts()).toEqual([2, 1, 1, 1]);
      clock += 1_000; // 2.001 s after the first question: NXDOMAIN (SOA minimum 2 s) too
      await all();
      expect(counts()).toEqual([3, 1, 2, 1]);
      clock += 58_000; // 60.001 s: the 1 h answer, capped by cacheMs, and the NXDOMAIN without an SOA
      await all();
      expect(counts()).toEqual([4, 2, 3, 2]);
    } finally {
      await fake.stop();
    }
  });
});
