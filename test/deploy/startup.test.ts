// The start-up rule for the Redis the queues live in: every service that connects to
// Redis runs assertQueueRedis (@hopmail/queue) before it accepts work, so it refuses an
// evicting Redis and warns when Redis persists nothing. The check itself is tested in
// packages/queue/src/redis-policy.test.ts; this guards the wiring in each main.ts.
// dns-cache is the one exception: Redis is only its shared cache (eviction loses nothing), and
// it must start and answer while Redis is down, so it does not wait for Redis at all.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, serviceNames } from './lib.ts';

const EXEMPT: Record<string, string> = { 'dns-cache': 'Redis is only a cache there; it starts without Redis' };

const mains = serviceNames().map((name) => ({ name, source: readFileSync(join(root, 'services', name, 'src', 'main.ts'), 'utf8') }));

describe('start-up checks in main.ts', () => {
  for (const { name, source } of mains) {
    if (!source.includes('createRedis(')) continue;
    const check = source.indexOf('assertQueueRedis(');
    if (name in EXEMPT) {
      it(`${name}: exempt (${EXEMPT[name]})`, () => expect(check).toBe(-1));
      continue;
    }
    it(`${name}: main.ts runs assertQueueRedis before it accepts work`, () => {
      expect(source).toMatch(/await assertQueueRedis\(/);
      expect(check).toBeLessThan(source.indexOf('runService('));
    });
  }
});
