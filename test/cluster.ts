// Starts Hopmail services as separate processes against a test database and Redis prefix,
// the way `pnpm start` runs them, with every port chosen free.
import { createTestDatabase, freePort, redisPrefix, startServiceProcess, type ServiceProcess, type TestDatabase, baseUrls } from '@hopmail/test-kit';

export interface Cluster {
  db: TestDatabase;
  env: Record<string, string>;
  smtpPort: number;
  adminPort: number;
  adminToken: string;
  procs: Map<string, ServiceProcess>;
  start(name: string, extra?: Record<string, string>): Promise<ServiceProcess>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
  stop(): Promise<void>;
}

export async function startCluster(options: { services: string[]; redisUrl?: string; env?: Record<string, string> }): Promise<Cluster> {
  const db = await createTestDatabase();
  const adminToken = 'e2e-admin-token-' + 'x'.repeat(16);
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    REDIS_URL: options.redisUrl ?? baseUrls().redisUrl,
    REDIS_PREFIX: redisPrefix(),
    ADMIN_TOKEN: adminToken,
    HEALTH_HOST: '127.0.0.1',
    SMTP_HOST: '127.0.0.1',
    ADMIN_HOST: '127.0.0.1',
    SMTP_PORT: String(await freePort()),
    ADMIN_PORT: String(await freePort()),
    // No DNS for inbound SPF/DKIM/DMARC here (test/mail-auth-in.test.ts has its own).
    INBOUND_AUTH: 'false',
    ...options.env,
  };
  const procs = new Map<string, ServiceProcess>();
  const cluster: Cluster = {
    db,
    env,
    smtpPort: Number(env.SMTP_PORT),
    adminPort: Number(env.ADMIN_PORT),
    adminToken,
    procs,
    async start(name, extra = {}) {
      const p = startServiceProcess(name, { ...env, HEALTH_PORT: String(await freePort()), ...extra });
      procs.set(name, p);
      await p.ready;
      return p;
    },
    async api(method, path, body) {
      const res = await fetch(`http://127.0.0.1:${cluster.adminPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      await Promise.all([...procs.values()].map((p) => p.kill('SIGTERM')));
      await db.drop();
    },
  };
  for (const s of options.services) await cluster.start(s);
  return cluster;
}

/** Strips the Received: header (with folded continuation lines) that ingress prepends. */
export function stripFirstReceived(raw: Buffer): Buffer {
  const text = raw.toString('latin1');
  if (!/^Received:/i.test(text)) throw new Error('message does not start with Received:');
  let i = text.indexOf('\r\n');
  while (text[i + 2] === ' ' || text[i + 2] === '\t') i = text.indexOf('\r\n', i + 2);
  return raw.subarray(i + 2);
}
