import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RCODE, TYPE, decodeHeader, decodeMessage, encodeQuery } from '@hopmail/dns-wire';
import { Redis } from 'ioredis';
import { baseUrls, freePort, redisPrefix, startFakeDns, startPrivateRedis, startTcpProxy, waitFor, type FakeDns, type FakeDnsRecord } from '@hopmail/test-kit';
import { startTestCache, tcpExchange, udpExchange, udpQuery, type TestCache } from '../test/support.ts';

const SOA = { mname: 'ns1.cache.test', rname: 'hostmaster.cache.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 2 };

const RECORDS: FakeDnsRecord[] = [
  { name: 'cache.test', type: 'SOA', ttl: 600, data: SOA },
  { name: 'cache.test', type: 'MX', ttl: 60, data: { preference: 10, exchange: 'mx.cache.test' } },
  { name: 'mx.cache.test', type: 'A', ttl: 60, data: '127.0.0.50' },
  { name: 'short.cache.test', type: 'A', ttl: 1, data: '127.0.0.51' },
  { name: 'ten.cache.test', type: 'A', ttl: 10, data: '127.0.0.52' },
  { name: 'huge-ttl.cache.test', type: 'A', ttl: 1_000_000, data: '127.0.0.53' },
  { name: 'slow.cache.test', type: 'A', ttl: 60, data: '127.0.0.54' },
  { name: 'tc.cache.test', type: 'MX', ttl: 60, data: { preference: 5, exchange: 'mx.cache.test' } },
  { name: 'broken.cache.test', type: 'A', data: '127.0.0.55' },
  { name: 'silent.cache.test', type: 'A', data: '127.0.0.56' },
  { name: 'stale.cache.test', type: 'A', ttl: 1, data: '127.0.0.57' },
  { name: 'shared.cache.test', type: 'A', ttl: 60, data: '127.0.0.58' },
  { name: 'www.cache.test', type: 'A', ttl: 60, data: '127.0.0.59' },
  { name: 'peer.cache.test', type: 'A', ttl: 60, data: '127.0.0.60' },
  ...Array.from({ length: 60 }, (_, i): FakeDnsRecord => ({ name: 'big.cache.test', type: 'A', ttl: 60, data: `127.0.1.${i}` })),
];

const count = (f: FakeDns, name: string, type?: string) => f.queries.filter((q) => q.name === name && (!type || q.type === type)).length;

describe('dns-cache', () => {
  const { redisUrl } = baseUrls();
  let fake: FakeDns;
  let cache: TestCache;
  const extra: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    fake = await startFakeDns({
      host: '127.0.0.21',
      records: RECORDS,
      behaviour: { slow: { 'slow.cache.test': 150, 'peer.cache.test': 200 }, truncateUdp: ['tc.cache.test'], servfail: ['broken.cache.test'], drop: ['silent.cache.test'] },
    });
    cache = await startTestCache({ upstreams: [fake], redisUrl, prefix: redisPrefix() });
  });
  afterEach(async () => {
    for (const e of extra.splice(0)) await e.stop();
  });
  afterAll(async () => {
    await cache?.stop();
    await fake?.stop();
  });

  it('answers through node:dns, then from the cache with TTLs counting down', async () => {
    expect(await cache.resolver.resolve4('ten.cache.test', { ttl: true })).toEqual([{ address: '127.0.0.52', ttl: 10 }]);
    await new Promise((r) => setTimeout(r, 1100));
    const [again] = await cache.resolver.resolve4('ten.cache.test', { ttl: true });
    expect(again!.address).toBe('127.0.0.52');
    expect(again!.ttl).toBeLessThanOrEqual(9);
    expect(again!.ttl).toBeGreaterThanOrEqual(7);
    expect(count(fake, 'ten.cache.test')).toBe(1);
  });

  it('TTL expiry: an answer past its TTL is fetched again', async () => {
    await cache.resolver.resolve4('short.cache.test');
    await cache.resolver.resolve4('short.cache.test');
    expect(count(fake, 'short.cache.test')).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await cache.resolver.resolve4('short.cache.test')).toEqual(['127.0.0.51']);
    expect(count(fake, 'short.cache.test')).toBe(2);
  });

  it('TTL clamping to DNS_MIN_TTL / DNS_MAX_TTL, with the Redis TTL covering the stale window', async () => {
    const prefix = redisPrefix();
    const clamped = await startTestCache({ upstreams: [fake], redisUrl, prefix, env: { DNS_MIN_TTL: '30', DNS_MAX_TTL: '120', DNS_SERVE_STALE_MAX_S: '100' } });
    extra.push(clamped);
    expect(await clamped.resolver.resolve4('short.cache.test', { ttl: true })).toEqual([{ address: '127.0.0.51', ttl: 30 }]);
    expect(await clamped.resolver.resolve4('huge-ttl.cache.test', { ttl: true })).toEqual([{ address: '127.0.0.53', ttl: 120 }]);
    const pttl = await waitFor(async () => {
      const v = await clamped.redis.pttl(`${prefix}:dns:1:1:huge-ttl.cache.test`);
      return v > 0 ? v : undefined;
    });
    expect(pttl).toBeGreaterThan(215_000);
    expect(pttl).toBeLessThanOrEqual(220_000);
  });

  it('negative caching: NXDOMAIN for the SOA minimum (RFC 2308), then asked again', async () => {
    await expect(cache.resolver.resolve4('nope.cache.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    const m = await udpQuery(cache.port, { name: 'nope.cache.test', type: TYPE.A });
    expect(m.header.rcode).toBe(RCODE.NXDOMAIN);
    expect(m.authorities).toMatchObject([{ type: 'SOA', name: 'cache.test', minimum: 2 }]);
    expect(m.authorities[0]!.ttl).toBeLessThanOrEqual(2);
    expect(count(fake, 'nope.cache.test')).toBe(1);
    await new Promise((r) => setTimeout(r, 2100));
    await expect(cache.resolver.resolve4('nope.cache.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(count(fake, 'nope.cache.test')).toBe(2);
  });

  it('negative caching: NODATA (name exists, no MX)', async () => {
    await expect(cache.resolver.resolveMx('mx.cache.test')).rejects.toMatchObject({ code: 'ENODATA' });
    await expect(cache.resolver.resolveMx('mx.cache.test')).rejects.toMatchObject({ code: 'ENODATA' });
    const m = await udpQuery(cache.port, { name: 'mx.cache.test', type: TYPE.MX });
    expect(m.header.rcode).toBe(RCODE.NOERROR);
    expect(m.answers).toEqual([]);
    expect(m.authorities).toMatchObject([{ type: 'SOA' }]);
    expect(count(fake, 'mx.cache.test', 'MX')).toBe(1);
  });

  it('shared cache: a second instance on the same Redis answers without asking upstream', async () => {
    const prefix = redisPrefix();
    const a = await startTestCache({ upstreams: [fake], redisUrl, prefix });
    const b = await startTestCache({ upstreams: [fake], redisUrl, prefix });
    extra.push(a, b);
    expect(await a.resolver.resolve4('shared.cache.test')).toEqual(['127.0.0.58']);
    await waitFor(async () => (await a.redis.exists(`${prefix}:dns:1:1:shared.cache.test`)) === 1, { what: 'entry in redis' });
    const before = count(fake, 'shared.cache.test');
    expect(await b.resolver.resolve4('shared.cache.test')).toEqual(['127.0.0.58']);
    expect(count(fake, 'shared.cache.test')).toBe(before);
    const metrics = await b.app.metrics.answers.get();
    expect(metrics.values.find((v) => v.labels.source === 'redis')?.value).toBe(1);
  });

  it('identical concurrent misses on two replicas: one upstream query, the other replica waits for it in Redis', async () => {
    const prefix = redisPrefix();
    const a = await startTestCache({ upstreams: [fake], redisUrl, prefix });
    const b = await startTestCache({ upstreams: [fake], redisUrl, prefix });
    extra.push(a, b);
    const answers = await Promise.all([a.resolver.resolve4('peer.cache.test'), b.resolver.resolve4('peer.cache.test'), a.resolver.resolve4('peer.cache.test')]);
    expect(answers).toEqual([['127.0.0.60'], ['127.0.0.60'], ['127.0.0.60']]);
    expect(count(fake, 'peer.cache.test')).toBe(1);
  });

  it('identical concurrent queries are collapsed into one upstream query', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => udpQuery(cache.port, { id: 1000 + i, name: i % 2 ? 'SLOW.cache.test' : 'slow.cache.test', type: TYPE.A })));
    expect(replies.map((r) => r.header.id)).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + i));
    expect(replies.every((r) => r.answers[0]?.type === 'A')).toBe(true);
    expect(count(fake, 'slow.cache.test')).toBe(1);
    expect((await cache.app.metrics.collapsed.get()).values[0]!.value).toBe(19);
  });

  it('the answer carries the client id and question exactly as asked (0x20 case)', async () => {
    const m = await udpQuery(cache.port, { id: 0xbeef, name: 'WwW.CaChE.tEsT', type: TYPE.A });
    expect(m.header).toMatchObject({ id: 0xbeef, qr: true, ra: true, rd: true });
    expect(m.questions).toEqual([{ name: 'WwW.CaChE.tEsT', type: TYPE.A, class: 1 }]);
    expect(m.answers[0]!.name).toBe('WwW.CaChE.tEsT');
  });

  it('upstream SERVFAIL → SERVFAIL at once; a silent upstream → SERVFAIL within the budget', async () => {
    let t0 = Date.now();
    expect((await udpQuery(cache.port, { name: 'broken.cache.test', type: TYPE.A })).header.rcode).toBe(RCODE.SERVFAIL);
    expect(Date.now() - t0).toBeLessThan(500);
    t0 = Date.now();
    expect((await udpQuery(cache.port, { name: 'silent.cache.test', type: TYPE.A })).header.rcode).toBe(RCODE.SERVFAIL);
    const took = Date.now() - t0;
    expect(took).toBeLessThan(1500 + 300);
    await expect(cache.resolver.resolve4('broken.cache.test')).rejects.toMatchObject({ code: 'ESERVFAIL' });
  });

  it('a slow upstream does not hang: the next upstream answers after the attempt timeout', async () => {
    const slowFirst = await startFakeDns({ host: '127.0.0.22', records: RECORDS, behaviour: { slow: { 'mx.cache.test': 10_000 } } });
    const c = await startTestCache({ upstreams: [slowFirst, fake], redisUrl, prefix: redisPrefix(), env: { DNS_UPSTREAM_TIMEOUT_MS: '200' } });
    extra.push(c, slowFirst);
    const t0 = Date.now();
    expect(await c.resolver.resolve4('mx.cache.test')).toEqual(['127.0.0.50']);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(count(slowFirst, 'mx.cache.test')).toBe(1);
    // only the slow one: the answer budget wins, SERVFAIL rather than a hang
    const only = await startTestCache({ upstreams: [slowFirst], redisUrl, prefix: redisPrefix(), env: { DNS_UPSTREAM_TIMEOUT_MS: '300', DNS_ANSWER_BUDGET_MS: '500' } });
    extra.push(only);
    const t1 = Date.now();
    expect((await udpQuery(only.port, { name: 'mx.cache.test', type: TYPE.A })).header.rcode).toBe(RCODE.SERVFAIL);
    expect(Date.now() - t1).toBeLessThan(900);
  });

  it('serve-stale (RFC 8767) after the upstream stops, with TTL 30, and SERVFAIL for what was never cached', async () => {
    const own = await startFakeDns({ host: '127.0.0.23', records: RECORDS });
    const c = await startTestCache({ upstreams: [own], redisUrl, prefix: redisPrefix(), env: { DNS_SERVE_STALE_MAX_S: '60' } });
    extra.push(c);
    expect(await c.resolver.resolve4('stale.cache.test', { ttl: true })).toEqual([{ address: '127.0.0.57', ttl: 1 }]);
    await own.stop();
    await new Promise((r) => setTimeout(r, 1100));
    const t0 = Date.now();
    expect(await c.resolver.resolve4('stale.cache.test', { ttl: true })).toEqual([{ address: '127.0.0.57', ttl: 30 }]);
    expect(Date.now() - t0).toBeLessThan(1500);
    // within the recheck window it answers stale at once, without asking
    const t1 = Date.now();
    expect(await c.resolver.resolve4('stale.cache.test')).toEqual(['127.0.0.57']);
    expect(Date.now() - t1).toBeLessThan(300);
    expect((await c.app.metrics.stale.get()).values[0]!.value).toBe(2);
    // RFC 8914: EDNS clients are told the answer is stale (EDE 3), and why a SERVFAIL failed
    const edns = await udpQuery(c.port, { name: 'stale.cache.test', type: TYPE.A, udpSize: 1232 });
    expect(edns.edns?.options.toString('hex')).toBe('000f00020003');
    const failed = await udpQuery(c.port, { name: 'mx.cache.test', type: TYPE.A, udpSize: 1232 });
    expect(failed.header.rcode).toBe(RCODE.SERVFAIL);
    expect(failed.edns?.options.readUInt16BE(0)).toBe(15);
    expect((await udpQuery(c.port, { name: 'www.cache.test', type: TYPE.A })).header.rcode).toBe(RCODE.SERVFAIL);
  });

  it('stale answers are bounded by DNS_SERVE_STALE_MAX_S', async () => {
    const own = await startFakeDns({ host: '127.0.0.24', records: RECORDS });
    const c = await startTestCache({ upstreams: [own], redisUrl, prefix: redisPrefix(), env: { DNS_SERVE_STALE_MAX_S: '1' } });
    extra.push(c);
    await c.resolver.resolve4('stale.cache.test');
    await own.stop();
    await new Promise((r) => setTimeout(r, 2200));
    expect((await udpQuery(c.port, { name: 'stale.cache.test', type: TYPE.A })).header.rcode).toBe(RCODE.SERVFAIL);
  });

  it('a truncated UDP answer from upstream is fetched again over TCP', async () => {
    expect(await cache.resolver.resolveMx('tc.cache.test')).toMatchObject([{ priority: 5, exchange: 'mx.cache.test' }]);
    expect(fake.queries.filter((q) => q.name === 'tc.cache.test').map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });

  it('an answer larger than the client UDP size gets TC=1; TCP and EDNS clients get it whole', async () => {
    const plain = await udpQuery(cache.port, { name: 'big.cache.test', type: TYPE.A });
    expect(plain.header.tc).toBe(true);
    expect(plain.answers).toEqual([]);
    expect(plain.questions[0]!.name).toBe('big.cache.test');
    const edns = await udpQuery(cache.port, { name: 'big.cache.test', type: TYPE.A, udpSize: 1232 });
    expect(edns.header.tc).toBe(false);
    expect(edns.answers).toHaveLength(60);
    const [tcp] = await tcpExchange(cache.port, [encodeQuery({ id: 9, name: 'big.cache.test', type: TYPE.A })]);
    expect(decodeMessage(tcp!).answers).toHaveLength(60);
    expect(await cache.resolver.resolve4('big.cache.test')).toHaveLength(60);
  });

  it('malformed packets: no reply to a short header, FORMERR to broken bodies, NOTIMP to other opcodes; it keeps answering', async () => {
    expect(await udpExchange(cache.port, Buffer.from('12340100', 'hex'), 300)).toBeUndefined();
    const loop = await udpExchange(cache.port, Buffer.from('abcd01000001000000000000c00c00010001', 'hex'));
    expect(decodeHeader(loop!)).toMatchObject({ id: 0xabcd, qr: true, rcode: RCODE.FORMERR });
    const cut = await udpExchange(cache.port, Buffer.from('abcf0100000100000000000003616263', 'hex'));
    expect(decodeHeader(cut!)).toMatchObject({ id: 0xabcf, rcode: RCODE.FORMERR });
    const twoQuestions = await udpExchange(cache.port, Buffer.from('abce010000020000000000000161000001000101620000010001', 'hex'));
    expect(decodeHeader(twoQuestions!)).toMatchObject({ id: 0xabce, rcode: RCODE.FORMERR });
    const status = encodeQuery({ id: 77, name: 'www.cache.test', type: TYPE.A });
    status.writeUInt16BE(0x1000 | 0x0100, 2); // opcode 2 (STATUS)
    expect(decodeHeader((await udpExchange(cache.port, status))!)).toMatchObject({ id: 77, rcode: RCODE.NOTIMP });
    const chaos = encodeQuery({ id: 78, name: 'version.bind', type: 16, class: 3 });
    expect(decodeHeader((await udpExchange(cache.port, chaos))!)).toMatchObject({ id: 78, rcode: RCODE.REFUSED });
    const response = encodeQuery({ id: 79, name: 'www.cache.test', type: TYPE.A });
    response[2]! |= 0x80; // QR set: never answer a response
    expect(await udpExchange(cache.port, response, 300)).toBeUndefined();
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      const b = Buffer.alloc(12 + (i % 60));
      for (let j = 0; j < b.length; j++) b[j] = (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
      b[2]! &= 0x7f;
      await udpExchange(cache.port, b, 20);
    }
    // TCP: a FORMERR frame, then a good query on the same connection still answered
    const [bad, good] = await tcpExchange(cache.port, [Buffer.from('abcd01000001000000000000c00c00010001', 'hex'), encodeQuery({ id: 80, name: 'www.cache.test', type: TYPE.A })]);
    expect(decodeHeader(bad!).rcode).toBe(RCODE.FORMERR);
    expect(decodeMessage(good!).answers).toMatchObject([{ address: '127.0.0.59' }]);
    expect(await cache.resolver.resolve4('www.cache.test')).toEqual(['127.0.0.59']);
  });

  it('EDNS: answers carry our OPT; an unknown EDNS version gets BADVERS', async () => {
    const m = await udpQuery(cache.port, { name: 'www.cache.test', type: TYPE.A, udpSize: 4096 });
    expect(m.edns).toMatchObject({ udpSize: 1232, version: 0 });
    const q = encodeQuery({ id: 81, name: 'www.cache.test', type: TYPE.A, udpSize: 1232 });
    q[q.length - 5] = 1; // OPT TTL byte 2: version 1
    const r = decodeMessage((await udpExchange(cache.port, q))!);
    expect(r.edns?.extendedRcode).toBe(1);
  });

  it('metrics: queries, hit ratio, upstream latency, stale answers, SERVFAILs', async () => {
    const m = cache.app.metrics;
    expect((await m.queries.get()).values.reduce((a, v) => a + v.value, 0)).toBeGreaterThan(10);
    expect((await m.hitRatio.get()).values[0]!.value).toBeGreaterThan(0);
    expect((await m.upstreamLatency.get()).values.some((v) => v.metricName?.endsWith('_count') && v.value > 0)).toBe(true);
    expect((await m.servfail.get()).values.length).toBeGreaterThan(0);
  });

  it('an IPv6 upstream ([::1]:port) works over UDP and TCP', async () => {
    const v6 = await startFakeDns({ host: '::1', records: RECORDS, behaviour: { truncateUdp: ['tc.cache.test'] } });
    extra.push(v6);
    const c = await startTestCache({ upstreams: [], redisUrl, prefix: redisPrefix(), env: { DNS_UPSTREAMS: `[::1]:${v6.port}` } });
    extra.push(c);
    expect(await c.resolver.resolve4('www.cache.test')).toEqual(['127.0.0.59']);
    expect(await c.resolver.resolveMx('tc.cache.test')).toMatchObject([{ exchange: 'mx.cache.test' }]);
    expect(v6.queries.map((q) => q.transport)).toEqual(['udp', 'udp', 'tcp']);
  });

  it('Redis down: answers still come from the process cache and the upstreams, quickly', async () => {
    const priv = await startPrivateRedis();
    const c = await startTestCache({ upstreams: [fake], redisUrl: priv.url, prefix: redisPrefix() });
    extra.push(c);
    expect(await c.resolver.resolve4('www.cache.test')).toEqual(['127.0.0.59']);
    await priv.stop();
    await waitFor(async () => c.redis.status !== 'ready', { what: 'redis connection lost' });
    const t0 = Date.now();
    expect(await c.resolver.resolve4('www.cache.test')).toEqual(['127.0.0.59']);
    expect(await c.resolver.resolveMx('cache.test')).toMatchObject([{ exchange: 'mx.cache.test' }]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await c.app.metrics.redisErrors.get()).values.reduce((a, v) => a + v.value, 0)).toBeGreaterThan(0);
  });

  it('a stalled Redis is a miss after DNS_REDIS_TIMEOUT_MS: the answer does not wait for it', async () => {
    const priv = await startPrivateRedis();
    const c = await startTestCache({ upstreams: [fake], redisUrl: priv.url, prefix: redisPrefix(), env: { DNS_REDIS_TIMEOUT_MS: '100' } });
    extra.push(c, priv);
    const admin = new Redis(priv.url);
    try {
      await admin.call('CLIENT', 'PAUSE', '3000', 'ALL'); // every client's commands wait, this one's too
      const t0 = Date.now();
      expect(await c.resolver.resolve4('www.cache.test')).toEqual(['127.0.0.59']);
      expect(Date.now() - t0).toBeLessThan(1500);
      const errors = (await c.app.metrics.redisErrors.get()).values;
      expect(errors.find((v) => v.labels.op === 'get')?.value).toBe(1);
      expect(errors.find((v) => v.labels.op === 'claim')?.value).toBe(1);
    } finally {
      admin.disconnect();
    }
  });

  it('start waits at most DNS_REDIS_START_WAIT_MS for Redis, then answers without it', async () => {
    const logs: Record<string, unknown>[] = [];
    const t0 = Date.now();
    const c = await startTestCache({ upstreams: [fake], redisUrl: `redis://127.0.0.1:${await freePort()}`, prefix: redisPrefix(), logs, awaitRedis: false, env: { DNS_REDIS_START_WAIT_MS: '300' } });
    extra.push(c);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(logs).toContainEqual(expect.objectContaining({ event: 'dns-cache.redis.failed', op: 'connect', waitedMs: 300 }));
    expect(await c.resolver.resolve4('www.cache.test')).toEqual(['127.0.0.59']);
  });

  it('start goes on as soon as Redis is ready, well before DNS_REDIS_START_WAIT_MS', async () => {
    const redis = new URL(redisUrl);
    const proxy = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    extra.push({ stop: () => proxy.close() });
    proxy.down();
    const logs: Record<string, unknown>[] = [];
    const t0 = Date.now();
    setTimeout(() => proxy.up(), 200);
    const c = await startTestCache({ upstreams: [fake], redisUrl: proxy.url(redisUrl), prefix: redisPrefix(), logs, awaitRedis: false, env: { DNS_REDIS_START_WAIT_MS: '20000' } });
    extra.unshift(c);
    expect(c.redis.status).toBe('ready');
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(logs.filter((l) => l.event === 'dns-cache.redis.failed')).toEqual([]);
  });

  it('a flood of distinct misses is bounded by DNS_UPSTREAM_MAX_INFLIGHT (SERVFAIL, not a pile-up)', async () => {
    const own = await startFakeDns({ host: '127.0.0.27', records: RECORDS, behaviour: { slow: { 'www.cache.test': 300 } } });
    const c = await startTestCache({ upstreams: [own], redisUrl, prefix: redisPrefix(), env: { DNS_UPSTREAM_MAX_INFLIGHT: '1', DNS_UPSTREAM_TIMEOUT_MS: '1000' } });
    extra.push(c, own);
    const first = udpQuery(c.port, { name: 'www.cache.test', type: TYPE.A });
    await waitFor(async () => count(own, 'www.cache.test') === 1);
    const t0 = Date.now();
    expect((await udpQuery(c.port, { name: 'mx.cache.test', type: TYPE.A })).header.rcode).toBe(RCODE.SERVFAIL);
    expect(Date.now() - t0).toBeLessThan(400);
    expect((await first).answers).toMatchObject([{ address: '127.0.0.59' }]);
    expect((await c.app.metrics.servfail.get()).values.find((v) => v.labels.reason === 'overload')?.value).toBe(1);
  });

  it('graceful stop answers the query in flight, then refuses', async () => {
    const own = await startFakeDns({ host: '127.0.0.25', records: RECORDS, behaviour: { slow: { 'www.cache.test': 300 } } });
    const c = await startTestCache({ upstreams: [own], redisUrl, prefix: redisPrefix(), env: { DNS_UPSTREAM_TIMEOUT_MS: '1000' } });
    extra.push(own);
    const pending = udpQuery(c.port, { name: 'www.cache.test', type: TYPE.A });
    await waitFor(async () => count(own, 'www.cache.test') === 1);
    await c.stop();
    expect((await pending).answers).toMatchObject([{ address: '127.0.0.59' }]);
    expect(await udpExchange(c.port, encodeQuery({ id: 1, name: 'www.cache.test', type: TYPE.A }), 200)).toBeUndefined();
  });
});
