import { runService } from '@hopmail/service-kit';
import { createApp, NEEDS } from './app.ts';
import { configSchema } from './config.ts';

await runService({ name: 'smtp-ingress', schema: configSchema, needs: NEEDS, build: createApp });
