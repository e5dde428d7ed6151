import { runService } from '@hopmail/service-kit';
import { createApp } from './app.ts';
import { configSchema } from './config.ts';

await runService({ name: 'routing', schema: configSchema, needs: { postgres: 'index-plans', redis: 'queue' }, build: createApp });
