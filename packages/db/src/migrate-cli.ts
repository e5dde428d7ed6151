// `pnpm migrate`: create the database if needed and apply migrations. Safe to run from
// every replica at once (Kubernetes Job, compose one-shot service, `pnpm start`).
import { commonConfig, loadConfig, z } from '@hopmail/config';
import { ensureDatabase, migrate } from './migrate.ts';

const config = loadConfig('migrate', z.object({ DATABASE_URL: commonConfig.DATABASE_URL }));
await ensureDatabase(config.DATABASE_URL);
const applied = await migrate(config.DATABASE_URL);
process.stdout.write(JSON.stringify({ level: 30, time: Date.now(), name: 'migrate', event: 'migrate.done', applied }) + '\n');
