// The Redis stream of public delivery events: `<REDIS_PREFIX>:events`, capped with
// XADD MAXLEN ~ so it never grows without bound. Entries carry the event as one JSON field.
import type { Redis } from 'ioredis';
import type { PublicEvent } from './types.ts';

export const streamKey = (prefix: string) => `${prefix}:events`;

export async function publishEvents(redis: Redis, prefix: string, events: readonly PublicEvent[], maxLen = 100_000): Promise<void> {
  if (events.length === 0) return;
  const key = streamKey(prefix);
  const p = redis.pipeline();
  for (const e of events) p.xadd(key, 'MAXLEN', '~', String(maxLen), '*', 'id', e.id, 'type', e.type, 'event', JSON.stringify(e));
  const res = await p.exec();
  for (const [err] of res ?? []) if (err) throw err;
}

/** Parses one XREAD/XREADGROUP entry's field list back into the event. */
export function parseEntry(fields: readonly string[]): PublicEvent | null {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'event') {
      try {
        return JSON.parse(fields[i + 1]!) as PublicEvent;
      } catch {
        return null;
      }
    }
  }
  return null;
}
