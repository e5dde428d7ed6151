// dns-cache as separate processes, the way `pnpm start` runs it: two replicas share one
// Redis, so the second answers from the cache the first filled; SIGTERM stops cleanly.
import { Resolver } from 'node:dns/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { baseUrls, freePort, redisPrefix, startFakeDns, startServiceProcess, waitFor, type FakeDns, type ServiceProcess } from '@hopmail/test-kit';

describe('dns-cache processes', () => {
  const procs: ServiceProcess[] = [];
  let fake: FakeDns | undefined;
  afterAll(async () => {
    for (const p of procs) await p.kill('SIGKILL');
    await fake?.stop();
  });

  it('a second process answers from the shared cache; SIGTERM exits 0', async () => {
    fake = await startFakeDns({ host: '127.0.0.26', records: [{ name: 'relay.proc.test', type: 'MX', ttl: 300, data: { preference: 10, exchange: 'mx.proc.test' } }] });
    const prefix = redisPrefix();
    const start = async () => {
      const port = await freePort();
      const p = startServiceProcess('dns-cache', {
        DNS_HOST: '127.0.0.1',
        DNS_PORT: String(port),
        DNS_UPSTREAMS: `${fake!.host}:${fake!.port}`,
        REDIS_URL: baseUrls().redisUrl,
        REDIS_PREFIX: prefix,
        HEALTH_HOST: '127.0.0.1',
        HEALTH_PORT: '0',
        DNS_REDIS_TIMEOUT_MS: '1000', // a loaded CI machine can stall Redis past the default
      });
      procs.push(p);
      await p.ready;
      const r = new Resolver({ timeout: 5000, tries: 1 });
      r.setServers([`127.0.0.1:${port}`]);
      return { p, r };
    };
    const [one, two] = await Promise.all([start(), start()]);
    expect(await one.r.resolveMx('relay.proc.test')).toMatchObject([{ priority: 10, exchange: 'mx.proc.test' }]);
    expect(fake.queries).toHaveLength(1);
    // the write to Redis is not on the answer path: wait until it landed
    const redis = new Redis(baseUrls().redisUrl);
    await waitFor(async () => (await redis.exists(`${prefix}:dns:1:15:relay.proc.test`)) === 1, { what: 'entry in redis' });
    redis.disconnect();
    expect(await two.r.resolveMx('relay.proc.test')).toMatchObject([{ priority: 10, exchange: 'mx.proc.test' }]);
    expect(fake.queries).toHaveLength(1);
    expect(await one.p.kill('SIGTERM')).toBe(0);
    expect(one.p.logs.some((l) => l.event === 'shutdown.done')).toBe(true);
    expect(await two.p.kill('SIGTERM')).toBe(0);
  });
});
