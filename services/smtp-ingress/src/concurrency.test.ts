// Concurrent sessions per client across replicas (RATE_MAX_CONCURRENT_CONNECTIONS): two
// smtp-ingress processes share the count through Redis; one more session than the limit on
// either gets 421 4.7.0 and is counted; a closed session frees its slot; a replica killed
// with SIGKILL leaks no slot past its lease.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseUrls, createTestDatabase, redisPrefix, startServiceProcess, waitFor, type ServiceProcess, type TestDatabase } from '@hopmail/test-kit';
import { expectCode, seedDirectory, SmtpClient } from '../test/helpers.ts';

const TOO_MANY = '421 4.7.0 Too many concurrent connections from your address, try again later';

/** The first reply of a new session. */
async function greeting(port: number): Promise<{ c: SmtpClient; reply: string }> {
  const c = await SmtpClient.open(port);
  return { c, reply: await c.reply() };
}

describe('concurrent connections per client across two smtp-ingress processes', () => {
  let db: TestDatabase;
  let redis: Redis;
  const procs: ServiceProcess[] = [];
  const ports = (p: ServiceProcess) => ({
    smtp: p.logs.find((l) => l.event === 'smtp-ingress.listening')!.port as number,
    health: p.logs.find((l) => l.event === 'start.done')!.healthPort as number,
  });
  const start = async (prefix: string) => {
    const p = startServiceProcess('smtp-ingress', {
      DATABASE_URL: db.url,
      REDIS_PREFIX: prefix,
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: '0',
      HEALTH_HOST: '127.0.0.1',
      HEALTH_PORT: '0',
      SMTP_HOSTNAME: 'mx.test.example',
      SMTP_REVERSE_LOOKUP: 'false',
      INBOUND_AUTH: 'false',
      RATE_MAX_CONCURRENT_CONNECTIONS: '3',
      RATE_CONCURRENCY_LEASE_MS: '3000',
    });
    procs.push(p);
    await p.ready;
    return p;
  };
  beforeAll(async () => {
    db = await createTestDatabase();
    redis = new Redis(baseUrls().redisUrl);
    await seedDirectory(db.pool);
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await db?.drop();
    redis?.disconnect();
  });

  // Two service processes start per test: generous time on a loaded machine.
  it('the limit holds across replicas, a closed session frees its slot, a refusal is counted', { timeout: 60_000 }, async () => {
    const prefix = redisPrefix();
    const [a, b] = await Promise.all([start(prefix), start(prefix)]);
    const pa = ports(a!);
    const pb = ports(b!);
    const open = [await SmtpClient.connect(pa.smtp), await SmtpClient.connect(pb.smtp), await SmtpClient.connect(pa.smtp)];
    const refused = await greeting(pb.smtp);
    expect(refused.reply).toBe(TOO_MANY);
    await refused.c.waitClosed();
    expect(b!.logs.some((l) => l.event === 'smtp-ingress.rate-limited' && l.kind === 'concurrent-connections' && l.limit === 3)).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${pb.health}/metrics`)).text();
    expect(metrics).toMatch(/hopmail_smtp_rate_limited_total\{kind="concurrent-connections",service="smtp-ingress"\} 1/);
    expect(metrics).toMatch(/hopmail_smtp_rejections_total\{stage="connect",reason="rate-concurrent-connections",service="smtp-ingress"\} 1/);

    // QUIT on A frees a slot for a session on B (the release is asynchronous: wait for it).
    expect(await open[0]!.cmd('QUIT')).toBe('221 2.0.0 Bye');
    const again = await waitFor(async () => {
      const g = await greeting(pb.smtp);
      if (g.reply.startsWith('220 ')) return g.c;
      g.c.close();
      return null;
    }, { what: 'a free slot after QUIT' });
    expectCode(await again.cmd('EHLO c.test'), 250);
    for (const c of [again, open[1]!, open[2]!]) c.close();
  });

  it('a replica killed with SIGKILL: its slots are free again after the lease, not leaked', { timeout: 60_000 }, async () => {
    const prefix = redisPrefix();
    const [a, b] = await Promise.all([start(prefix), start(prefix)]);
    const pa = ports(a!);
    const pb = ports(b!);
    const held = [await SmtpClient.connect(pa.smtp), await SmtpClient.connect(pa.smtp), await SmtpClient.connect(pa.smtp)];
    const refused = await greeting(pb.smtp);
    expect(refused.reply).toBe(TOO_MANY);
    refused.c.close();
    await a!.kill('SIGKILL');
    for (const c of held) await c.waitClosed();
    // Nobody released A's slots: they go when their lease (3 s; renewed every second, margin for a loaded machine) ends.
    // Each slot has its own lease end (A renewed them one by one): wait for the last one, by
    // Redis's clock, then B takes three sessions at once.
    const key = `${prefix}:smtp:conn:127.0.0.1`;
    const deadLeaseEnd = Number((await redis.zrange(key, -1, -1, 'WITHSCORES'))[1]);
    await waitFor(async () => {
      const [s, us] = await redis.time();
      return Number(s) * 1000 + Math.floor(Number(us) / 1000) > deadLeaseEnd;
    }, { timeoutMs: 15_000, intervalMs: 100, what: "the dead replica's slots to expire" });
    // B's heartbeat keeps its own sessions' slots past their first lease: once Redis's clock
    // is beyond it, a fourth session is still refused.
    const more = [await SmtpClient.connect(pb.smtp), await SmtpClient.connect(pb.smtp), await SmtpClient.connect(pb.smtp)];
    const firstLeaseEnd = Number((await redis.zrange(key, -1, -1, 'WITHSCORES'))[1]);
    await waitFor(async () => {
      const [s, us] = await redis.time();
      return Number(s) * 1000 + Math.floor(Number(us) / 1000) > firstLeaseEnd;
    }, { intervalMs: 100, what: 'the first lease to end' });
    expect(await redis.zcard(key)).toBe(3);
    expect((await greeting(pb.smtp)).reply).toBe(TOO_MANY);
    for (const x of more) x.close();
  });
});
