import { runService } from '@hopmail/service-kit';
import { createApp } from './app.ts';
import { configSchema } from './config.ts';

// Redis holds only the login-failure counters (shared with pop3): fail fast, logins go on
// without them while Redis is away. Change notifications come from PostgreSQL (LISTEN).
await runService({ name: 'imap', schema: configSchema, needs: { postgres: true, redis: 'fail-fast', certificates: true }, build: createApp });
