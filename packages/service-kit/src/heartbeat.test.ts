// Heartbeats against a real Redis: written at start, counted per service, stale ones not
// counted, and a clean stop removes the process's own entry.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { baseUrls, redisPrefix } from '@hopmail/test-kit';
import { createHeartbeat, heartbeatKey, HEARTBEAT_STALE_MS, readHeartbeats } from './heartbeat.ts';

const redis = new Redis(baseUrls().redisUrl);
const prefix = redisPrefix();
afterAll(async () => {
  await redis.del(heartbeatKey(prefix));
  redis.disconnect();
});

describe('heartbeats', () => {
  it('counts live replicas and ready ones per service; stop() removes the entry', async () => {
    let ready = true;
    const a = createHeartbeat({ redis, prefix, service: 'routing', ready: async () => ready });
    await a.beat();
    // Another replica, on another host, not ready; and one of a service long gone.
    const now = Date.now();
    await redis.hset(heartbeatKey(prefix), 'routing/other:1', JSON.stringify({ service: 'routing', instance: 'other:1', host: 'other', pid: 1, startedAt: new Date(now).toISOString(), at: new Date(now).toISOString(), ready: false }));
    await redis.hset(heartbeatKey(prefix), 'pop3/old:2', JSON.stringify({ service: 'pop3', instance: 'old:2', host: 'old', pid: 2, startedAt: new Date(now).toISOString(), at: new Date(now - HEARTBEAT_STALE_MS - 1000).toISOString(), ready: true }));
    await redis.hset(heartbeatKey(prefix), 'pop3/ancient:3', JSON.stringify({ service: 'pop3', instance: 'ancient:3', host: 'x', pid: 3, startedAt: '2020-01-01T00:00:00Z', at: '2020-01-01T00:00:00Z', ready: true }));
    await redis.hset(heartbeatKey(prefix), 'junk', 'not json');

    const s = await readHeartbeats(redis, prefix);
    expect(s.map((x) => [x.service, x.replicas, x.ready])).toEqual([
      ['pop3', 0, 0],
      ['routing', 2, 1],
    ]);
    expect(s[0]!.instances.map((i) => i.stale)).toEqual([true]);
    // Entries gone for an hour, and garbage, are forgotten.
    expect(await redis.hexists(heartbeatKey(prefix), 'pop3/ancient:3')).toBe(0);
    expect(await redis.hexists(heartbeatKey(prefix), 'junk')).toBe(0);

    ready = false;
    await a.beat();
    expect((await readHeartbeats(redis, prefix)).find((x) => x.service === 'routing')!.ready).toBe(0);
    await a.stop();
    expect((await readHeartbeats(redis, prefix)).find((x) => x.service === 'routing')!.replicas).toBe(1);
  });
});
