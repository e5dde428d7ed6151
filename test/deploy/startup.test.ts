// The start-up rule for the Redis the queues live in: every service that connects to
// Redis for queues or limits declares it to runService (`needs.redis: 'queue' | 'fail-fast'`),
// which runs assertQueueRedis before the service accepts work, so it refuses an evicting Redis
// and warns when Redis persists nothing. The check itself is tested in
// packages/service-kit/src/redis.test.ts and run.test.ts; this guards the declaration in each
// main.ts. dns-cache is the one exception (`cache`): Redis is only its shared cache (eviction
// loses nothing), and it must start and answer while Redis is down.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, serviceNames } from './lib.ts';

const EXEMPT: Record<string, string> = { 'dns-cache': 'Redis is only a cache there; it starts without Redis' };

const mains = serviceNames().map((name) => ({ name, source: readFileSync(join(root, 'services', name, 'src', 'main.ts'), 'utf8') }));

describe('start-up checks in main.ts', () => {
  for (const { name, source } of mains) {
    it(`${name}: main.ts is one runService call`, () => {
      expect(source.match(/runService\(/g)?.length).toBe(1);
      expect(source).not.toMatch(/process\.env|process\.exit|new Redis|createPool\(/);
    });
    const role = /redis:\s*'([a-z-]+)'/.exec(source)?.[1];
    if (!role) continue;
    if (name in EXEMPT) {
      it(`${name}: exempt (${EXEMPT[name]})`, () => expect(role).toBe('cache'));
      continue;
    }
    it(`${name}: declares a Redis that runService checks before it accepts work`, () => {
      expect(['queue', 'fail-fast']).toContain(role);
    });
  }
});
