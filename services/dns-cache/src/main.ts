import { runService } from '@hopmail/service-kit';
import { createApp } from './app.ts';
import { configSchema } from './config.ts';

// Redis is only the shared cache: never waited for, and not a readiness condition (without it
// this replica still answers from its process cache and upstreams).
await runService({ name: 'dns-cache', schema: configSchema, needs: { redis: 'cache' }, build: createApp });
