// `pnpm migrate`: create the database if needed and apply migrations. Safe to run from
// every replica at once (Kubernetes Job, compose one-shot service, `pnpm start`).
import { commonConfig, int, loadConfig, z } from '@hopmail/config';
import { ensureDatabase, migrate, waitForPostgres } from './migrate.ts';

const config = loadConfig(
  'migrate',
  z.object({
    DATABASE_URL: commonConfig.DATABASE_URL,
    MIGRATE_WAIT_MS: int(120_000, 0, 3_600_000, 'how long to wait for PostgreSQL to accept connections before giving up (it may still be starting)'),
  }),
);
await waitForPostgres(config.DATABASE_URL, {
  timeoutMs: config.MIGRATE_WAIT_MS,
  onRetry: (err, attempt) =>
    process.stdout.write(JSON.stringify({ level: 30, time: Date.now(), name: 'migrate', event: 'migrate.waiting', attempt, reason: (err as { code?: string }).code ?? err.message }) + '\n'),
});
await ensureDatabase(config.DATABASE_URL);
const applied = await migrate(config.DATABASE_URL);
process.stdout.write(JSON.stringify({ level: 30, time: Date.now(), name: 'migrate', event: 'migrate.done', applied }) + '\n');
