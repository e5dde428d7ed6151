// vitest globalSetup: when DATABASE_URL/REDIS_URL are not set, start PostgreSQL and Redis
// containers for the run (a developer laptop with Docker). Workers inherit the env.
import type { TestProject } from 'vitest/node';

export default async function setup(_project: TestProject): Promise<() => Promise<void>> {
  if (process.env.DATABASE_URL && process.env.REDIS_URL) return async () => {};
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { RedisContainer } = await import('@testcontainers/redis');
  const [pgc, redis] = await Promise.all([
    process.env.DATABASE_URL ? undefined : new PostgreSqlContainer('postgres:17-alpine').withUsername('root').withPassword('root').withDatabase('test').start(),
    process.env.REDIS_URL ? undefined : new RedisContainer('redis:7-alpine').start(),
  ]);
  if (pgc) process.env.DATABASE_URL = pgc.getConnectionUri();
  if (redis) process.env.REDIS_URL = redis.getConnectionUrl();
  return async () => {
    await Promise.all([pgc?.stop(), redis?.stop()]);
  };
}
