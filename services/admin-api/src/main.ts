import { runService } from '@hopmail/service-kit';
import { createApp } from './app.ts';
import { configSchema } from './config.ts';

// Queue actions and auth-failure counters live in Redis: a queue connection, never evicting.
await runService({ name: 'admin-api', schema: configSchema, needs: { postgres: true, redis: 'queue' }, build: createApp });
