// Which replicas of which services are up, for the console's overview: every process with a
// Redis connection writes a heartbeat into one hash (`<prefix>:services`, field
// `<service>/<instance>`) every HEARTBEAT_INTERVAL_MS, with the result of its own readiness
// checks. A reader counts an entry whose heartbeat is older than three intervals as gone (a
// killed process cannot say goodbye); a process that stops cleanly removes its own entry.
// Redis trouble only skips a beat: this is reporting, never a reason to stop serving.
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { createPeriodic } from './periodic.ts';
import { settleWithin } from './timeout.ts';

export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Older than this, a heartbeat means the replica is gone. */
export const HEARTBEAT_STALE_MS = 3 * HEARTBEAT_INTERVAL_MS;

export interface Heartbeat {
  service: string;
  /** host:pid, unique per process. */
  instance: string;
  host: string;
  pid: number;
  startedAt: string;
  /** When this heartbeat was written (ISO). */
  at: string;
  /** The process's own readiness checks passed at `at`. */
  ready: boolean;
}

export const heartbeatKey = (prefix: string) => `${prefix}:services`;

export interface HeartbeatWriter {
  start(): void;
  /** Stops beating and removes this process's entry (bounded: Redis may be away). */
  stop(): Promise<void>;
  /** Writes one heartbeat now. */
  beat(): Promise<void>;
}

export function createHeartbeat(options: { redis: Redis; prefix: string; service: string; ready: () => Promise<boolean>; intervalMs?: number }): HeartbeatWriter {
  const host = hostname();
  const instance = `${host}:${process.pid}`;
  const startedAt = new Date().toISOString();
  const field = `${options.service}/${instance}`;
  const key = heartbeatKey(options.prefix);
  const beat = async () => {
    const ready = await options.ready().catch(() => false);
    const hb: Heartbeat = { service: options.service, instance, host, pid: process.pid, startedAt, at: new Date().toISOString(), ready };
    await options.redis.hset(key, field, JSON.stringify(hb));
  };
  const periodic = createPeriodic(beat, { intervalMs: options.intervalMs ?? HEARTBEAT_INTERVAL_MS, firstDelayMs: 0, stopTimeoutMs: 1000 });
  return {
    start: () => periodic.start(),
    beat,
    async stop() {
      await periodic.stop();
      await settleWithin(options.redis.hdel(key, field), 1000);
    },
  };
}

export interface ServiceReplicas {
  service: string;
  /** Replicas whose last heartbeat is recent. */
  replicas: number;
  /** Of those, how many reported ready. */
  ready: number;
  instances: (Heartbeat & { stale: boolean })[];
}

/** Every service's replicas from the heartbeats (entries gone for an hour are removed). */
export async function readHeartbeats(redis: Redis, prefix: string, now = Date.now()): Promise<ServiceReplicas[]> {
  const all = await redis.hgetall(heartbeatKey(prefix));
  const by = new Map<string, ServiceReplicas>();
  const forgotten: string[] = [];
  for (const [field, value] of Object.entries(all)) {
    let hb: Heartbeat;
    try {
      hb = JSON.parse(value) as Heartbeat;
    } catch {
      forgotten.push(field);
      continue;
    }
    const age = now - Date.parse(hb.at);
    if (!(age < 3_600_000)) {
      forgotten.push(field);
      continue;
    }
    const stale = age > HEARTBEAT_STALE_MS;
    const s = by.get(hb.service) ?? { service: hb.service, replicas: 0, ready: 0, instances: [] };
    s.instances.push({ ...hb, stale });
    if (!stale) {
      s.replicas += 1;
      if (hb.ready) s.ready += 1;
    }
    by.set(hb.service, s);
  }
  if (forgotten.length) await redis.hdel(heartbeatKey(prefix), ...forgotten);
  for (const s of by.values()) s.instances.sort((a, b) => a.instance.localeCompare(b.instance));
  return [...by.values()].sort((a, b) => a.service.localeCompare(b.service));
}
