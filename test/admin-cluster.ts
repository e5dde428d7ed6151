// Test-only: admin-api with routing and the outbound relay (and, when asked, the
// housekeeper) running in this process on the same database and Redis prefix, a fake DNS zone
// and fake MX servers on 127.0.0.x. Drives mail the way smtp-ingress does (insertMessage +
// route-message job).
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { createProducer, type Producer } from '@hopmail/queue';
import { createLogger, createRegistry } from '@hopmail/service-kit';
import { freePort, startFakeDns, startFakeMx, startServiceProcess, type FakeDns, type FakeMx, type ServiceProcess } from '@hopmail/test-kit';
import { loadConfig } from '@hopmail/config';
import { createApp as createRouting, type RoutingApp } from '../services/routing/src/app.ts';
import { configSchema as routingSchema } from '../services/routing/src/config.ts';
import { createApp as createRelay, type RelayApp } from '../services/outbound-relay/src/app.ts';
import { configSchema as relaySchema } from '../services/outbound-relay/src/config.ts';
import { startTestHousekeeper, type TestHousekeeper } from '../services/housekeeper/test/support.ts';
import { startTestApi, type TestApi } from '../services/admin-api/test/support.ts';

export const MX_IP = '127.0.0.61';
export const MX_IP2 = '127.0.0.62';

export interface Cluster {
  api: TestApi;
  routing: RoutingApp;
  /** In this process, unless the cluster was started with relayProcess (then null). */
  relay: RelayApp | null;
  /** The event publisher and webhook dispatcher; null unless the cluster was started with `housekeeper`. */
  housekeeper: TestHousekeeper | null;
  mx: FakeMx;
  dns: FakeDns;
  route: Producer<'route-message'>;
  /** Commits a message as smtp-ingress does and enqueues route-message. */
  send(from: string, to: string[], opts?: { subject?: string; clientIp?: string; tls?: boolean; authUser?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startCluster(
  env: { api?: Record<string, string>; relay?: Record<string, string>; relayProcess?: boolean; housekeeper?: Record<string, string> } = {},
): Promise<Cluster> {
  const api = await startTestApi(env.api ?? {});
  const mx = await startFakeMx([MX_IP, MX_IP2]);
  const mxRec = (name: string, exchange: string) => ({ name, type: 'MX' as const, data: { preference: 10, exchange } });
  const dns = await startFakeDns({
    host: '127.0.0.63',
    records: [
      { name: 'test', type: 'SOA', data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 } },
      { name: 'mx.remote.test', type: 'A', data: MX_IP },
      { name: 'mx.grey.test', type: 'A', data: MX_IP2 },
      mxRec('remote.test', 'mx.remote.test'),
      mxRec('outage.test', 'mx.remote.test'),
      mxRec('grey.test', 'mx.grey.test'),
    ],
  });
  const common = { DATABASE_URL: api.db.url, REDIS_URL: api.config.REDIS_URL, REDIS_PREFIX: api.prefix, LOG_LEVEL: 'silent', DATABASE_POOL_SIZE: '10' };
  const routingConfig = loadConfig('routing', routingSchema, { env: { ...common, DIRECTORY_CACHE_MS: '0', RECONCILE_INTERVAL_MS: '3600000' }, argv: [] });
  const routing = createRouting({ config: routingConfig, logger: createLogger('routing', 'silent'), registry: createRegistry('routing'), pool: api.db.pool, redis: api.redis });
  const relayEnv: Record<string, string> = {
    ...common,
    RELAY_HOSTNAME: 'relay.hopmail.test',
    RELAY_PORT: String(mx.port),
    DNS_SERVERS: `${dns.host}:${dns.port}`,
    DNS_TIMEOUT_MS: '500',
    DNS_TRIES: '1',
    RELAY_ALLOW_LOOPBACK_MX: 'true',
    RELAY_RETRY_SCHEDULE: '200',
    RELAY_SCHEDULER_INTERVAL_MS: '50',
    RELAY_CONNECT_TIMEOUT_MS: '2000',
    RELAY_GREETING_TIMEOUT_MS: '2000',
    RELAY_SOCKET_TIMEOUT_MS: '5000',
    RELAY_POOL_IDLE_MS: '2000',
    RELAY_CONCURRENCY: '32',
    RELAY_MAX_CONNECTIONS_PER_HOST: '16',
    ...(env.relay ?? {}),
  };
  let relay: RelayApp | null = null;
  let relayProc: ServiceProcess | null = null;
  if (env.relayProcess) {
    // Its own process (its own core), as in production; the fake MX stays here.
    relayProc = startServiceProcess('outbound-relay', { ...relayEnv, LOG_LEVEL: 'info', HEALTH_PORT: String(await freePort()) });
  } else {
    const relayConfig = loadConfig('outbound-relay', relaySchema, { argv: [], env: relayEnv });
    relay = createRelay({ config: relayConfig, logger: createLogger('outbound-relay', 'silent'), registry: createRegistry('outbound-relay'), pool: api.db.pool, redis: api.redis });
  }
  await routing.start();
  await relay?.start();
  await relayProc?.ready;
  const housekeeper = env.housekeeper ? await startTestHousekeeper({ db: api.db, prefix: api.prefix, env: env.housekeeper }) : null;
  const route = createProducer('route-message', api.redis, api.prefix);
  return {
    api,
    routing,
    relay,
    housekeeper,
    mx,
    dns,
    route,
    async send(from, to, o = {}) {
      const id = newMessageId();
      const subject = o.subject ?? id;
      const raw = Buffer.from(`From: ${from}\r\nTo: ${to.join(', ')}\r\nSubject: ${subject}\r\nMessage-ID: <${id}@local.test>\r\n\r\nHello.\r\n`);
      await insertMessage(api.db.pool, { id, raw, mailFrom: from, recipients: to, clientIp: o.clientIp ?? '192.0.2.7', clientHelo: 'client.example', tls: o.tls ?? false, authUser: o.authUser ?? null, headerMessageId: `<${id}@local.test>` });
      await route.add({ messageId: id });
      return id;
    },
    async close() {
      await housekeeper?.close();
      await relay?.stop();
      if (relayProc) await relayProc.kill('SIGTERM');
      await routing.stop();
      await route.close();
      await mx.stop();
      await dns.stop();
      await api.close();
    },
  };
}
