import { runService } from '@hopmail/service-kit';
import { createApp, selfSignedNames } from './app.ts';
import { configSchema, type Config } from './config.ts';

// Production refuses to start without a certificate (exit 78): submission takes passwords only over TLS.
await runService({
  name: 'smtp-ingress',
  schema: configSchema,
  needs: { postgres: true, redis: 'queue', certificates: (config: Config) => ({ selfSignedNames: selfSignedNames(config) }) },
  build: createApp,
});
