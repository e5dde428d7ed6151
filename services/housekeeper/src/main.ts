import { runService } from '@hopmail/service-kit';
import { createApp } from './app.ts';
import { configSchema } from './config.ts';

// The outbox publisher writes the event stream and the webhook dispatcher reads it with a
// consumer group: a queue connection, never evicting.
await runService({ name: 'housekeeper', schema: configSchema, needs: { postgres: true, redis: 'queue' }, build: createApp });
