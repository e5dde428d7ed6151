import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './infra.ts';

/**
 * A Redis of the test's own, for tests that must FLUSHALL or stop Redis without touching
 * other test files: a redis-server child process where the binary exists, else a container.
 */
export async function startPrivateRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    child.once('spawn', () => resolve(true));
  });
  if (spawned) {
    const url = `redis://127.0.0.1:${port}`;
    await waitFor(async () => {
      const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
      r.on('error', () => {}); // refused until the server listens; waitFor retries
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    }, { what: 'private redis' });
    return {
      url,
      stop: async () => {
        child.kill('SIGKILL');
      },
    };
  }
  const { RedisContainer } = await import('@testcontainers/redis');
  const c = await new RedisContainer('redis:7-alpine').start();
  return { url: c.getConnectionUrl(), stop: async () => void (await c.stop()) };
}
