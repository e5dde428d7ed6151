import { runService } from '@hopmail/service-kit';
import { createApp } from './app.ts';
import { configSchema } from './config.ts';

// Redis holds only the login-failure counters: fail fast (logins go on without them while
// Redis is away), but never on an evicting Redis (brute-force limits must hold).
await runService({ name: 'pop3', schema: configSchema, needs: { postgres: true, redis: 'fail-fast', certificates: true }, build: createApp });
