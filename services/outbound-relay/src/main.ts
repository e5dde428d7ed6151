import { runService } from '@hopmail/service-kit';
import { createApp } from './app.ts';
import { configSchema } from './config.ts';

await runService({ name: 'outbound-relay', schema: configSchema, needs: { postgres: true, redis: 'queue' }, build: createApp });
