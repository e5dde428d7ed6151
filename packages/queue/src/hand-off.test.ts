// handOff against a real Redis: ids back on success; a job kept as failed is retried with
// `ensure`; Redis gone → null and one warning, never a throw.
import { queueRedis } from '@hopmail/service-kit';
import { baseUrls, redisPrefix, waitFor } from '@hopmail/test-kit';
import { afterAll, describe, expect, it } from 'vitest';
import { createProducer, createWorker, handOff, UnrecoverableError, type Payload } from './index.ts';

const redis = queueRedis(baseUrls().redisUrl);
const prefix = redisPrefix();
const dsn = createProducer('send-dsn', redis, prefix);
afterAll(async () => {
  await dsn.queue.obliterate({ force: true });
  await dsn.close();
  redis.disconnect();
});

const id = (n: number) => `0190aaaa-0000-7000-8000-${String(n).padStart(12, '0')}`;
const warnings: object[] = [];
const logger = { warn: (obj: object) => void warnings.push(obj) };
const opts = { logger, event: 'test.hand-off-failed', message: 'not added' };

describe('handOff', () => {
  it('adds the jobs in one go and returns their deterministic ids', async () => {
    const payloads: Payload<'send-dsn'>[] = [
      { messageId: id(1), reason: 'failed' },
      { messageId: id(1), reason: 'delayed' },
    ];
    expect(await handOff(dsn, payloads, opts)).toEqual([`${id(1)}/failed`, `${id(1)}/delayed`]);
    expect(await handOff(dsn, [], opts)).toEqual([]);
    expect((await dsn.getJob(payloads[0]!))?.data).toEqual(payloads[0]);
  });

  it('ensure: a job BullMQ kept as failed is retried instead of blocking its id', async () => {
    const payload: Payload<'send-dsn'> = { messageId: id(2), reason: 'delayed' };
    await dsn.add(payload);
    const worker = createWorker('send-dsn', async () => Promise.reject(new UnrecoverableError('exhausted')), redis, prefix);
    await waitFor(async () => (await (await dsn.getJob(payload))!.getState()) === 'failed', { what: 'the job to fail' });
    await worker.close();
    expect(await handOff(dsn, [payload], { ...opts, ensure: true })).toEqual([`${id(2)}/delayed`]);
    expect(await (await dsn.getJob(payload))!.getState()).not.toBe('failed');
  });

  it('Redis away: null and one warning naming the queue, within the timeout', async () => {
    const dead = queueRedis('redis://127.0.0.1:1', { retryStrategy: () => 1000 });
    dead.on('error', () => {});
    const p = createProducer('send-dsn', dead, prefix);
    const t0 = Date.now();
    expect(await handOff(p, [{ messageId: id(3), reason: 'failed' }], { ...opts, timeoutMs: 200 })).toBeNull();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(warnings).toEqual([expect.objectContaining({ event: 'test.hand-off-failed', queue: 'send-dsn' })]);
    dead.disconnect();
  });
});
