// The start-up rule for the Redis the queues live in: every service that connects to
// Redis runs assertQueueRedis (@hopmail/queue) before it accepts work, so it refuses an
// evicting Redis and warns when Redis persists nothing. The check itself is tested in
// packages/queue/src/redis-policy.test.ts; this guards the wiring in each main.ts. Services not
// wired yet are listed as todo (their owners add one line) rather than failing everyone's CI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, serviceNames } from './lib.ts';

const mains = serviceNames().map((name) => ({ name, source: readFileSync(join(root, 'services', name, 'src', 'main.ts'), 'utf8') }));

describe('start-up checks in main.ts', () => {
  for (const { name, source } of mains) {
    if (!source.includes('createRedis(')) continue;
    const check = source.indexOf('assertQueueRedis(');
    if (check < 0) {
      it.todo(`${name}: main.ts runs \`await assertQueueRedis(redis, logger)\` before runService`);
      continue;
    }
    it(`${name}: main.ts runs assertQueueRedis before it accepts work`, () => {
      expect(source).toMatch(/await assertQueueRedis\(/);
      expect(check).toBeLessThan(source.indexOf('runService('));
    });
  }
});
