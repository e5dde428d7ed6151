// docker-compose.yml against the services' configuration schemas, the start-command table
// and the service kit, as a fresh machine without .env would run it. No Docker needed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrateCommand, superviseCommand, supervisorConfigSchema } from '@hopmail/service-kit';
import { effectiveConfig, interpolateDeep, listenerPortKeys, loadSchema, parseYamlDocs, requiredKeys, root, serviceNames, type Schema } from './lib.ts';

interface ComposeService {
  build?: { context: string; target?: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[]; interval?: string; start_period?: string };
  depends_on?: Record<string, { condition: string }>;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  stop_grace_period?: string;
  restart?: string;
  networks?: string[] | Record<string, { ipv4_address?: string } | null>;
  sysctls?: unknown;
  privileged?: boolean;
}

const [raw] = parseYamlDocs(join(root, 'docker-compose.yml')) as { services: Record<string, ComposeService> }[];
const compose = interpolateDeep(raw) as { services: Record<string, ComposeService> };
const services = serviceNames();
const schemas = new Map<string, Schema>();

beforeAll(async () => {
  for (const name of services) schemas.set(name, await loadSchema(name));
});

function env(name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(compose.services[name]?.environment ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

const supervised = (name: string) => JSON.stringify(compose.services[name]?.command) === JSON.stringify(superviseCommand('.js'));

/** The environment a service process sees: under the supervisor, a generated admin token. */
function processEnv(name: string): Record<string, string> {
  const e = env(name);
  if (supervised(name) && !e.ADMIN_TOKEN && e.NODE_ENV !== 'production' && name === 'admin-api') e.ADMIN_TOKEN = 'generated-by-the-supervisor-000000';
  return e;
}

function config(name: string): Record<string, unknown> {
  const result = effectiveConfig(schemas.get(name)!, processEnv(name));
  if (!result.ok) throw new Error(`${name}: ${result.problems.join('; ')}`);
  return result.config;
}

const seconds = (d: string) => {
  const m = /^(\d+)(ms|s|m)?$/.exec(d);
  if (!m) throw new Error(`duration ${d}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
};

describe('docker-compose.yml', () => {
  it('runs every service in services/', () => {
    expect(services.filter((s) => !compose.services[s])).toEqual([]);
  });

  it.each(services)('%s: built from its own Dockerfile stage, started with the `pnpm start` command', (name) => {
    const s = compose.services[name]!;
    expect(s.build?.target).toBe(name);
    // No command: the image's CMD (serviceCommand, checked in images.test.ts). Or the
    // supervisor itself running just this service.
    if (s.command !== undefined) {
      expect(s.command).toEqual(superviseCommand('.js'));
      expect(env(name).HOPMAIL_SERVICES).toBe(name);
    }
  });

  it.each(services)('%s: sets only variables its schema knows, every required one, all valid', (name) => {
    const schema = schemas.get(name)!;
    const known = new Set([...Object.keys(schema.shape), ...(supervised(name) ? Object.keys(supervisorConfigSchema.shape) : [])]);
    expect(Object.keys(env(name)).filter((k) => !known.has(k))).toEqual([]);
    const e = processEnv(name);
    expect(requiredKeys(schema).filter((k) => !e[k])).toEqual([]);
    expect(effectiveConfig(schema, e)).toMatchObject({ ok: true });
  });

  it.each(services)('%s: healthcheck asks the service kit /healthz on HEALTH_PORT', (name) => {
    const c = config(name);
    const test = compose.services[name]!.healthcheck?.test ?? [];
    expect(test[0]).toBe('CMD');
    expect(['0.0.0.0', '::', '127.0.0.1']).toContain(c.HEALTH_HOST);
    expect(test.join(' ')).toContain(`http://127.0.0.1:${c.HEALTH_PORT}/healthz`);
  });

  it.each(services)('%s: publishes only ports it listens on, and the health port never', (name) => {
    const c = config(name);
    const listening = listenerPortKeys(schemas.get(name)!).map((k) => c[k]);
    for (const p of compose.services[name]!.ports ?? []) {
      const container = Number(p.split(':').at(-1)!.split('/')[0]);
      expect(listening, `${name} publishes ${p}`).toContain(container);
      expect(container).not.toBe(c.HEALTH_PORT);
    }
  });

  // host port → the schema key of the container port behind it
  const standard: [string, number, string][] = [
    ['smtp-ingress', 25, 'SMTP_PORT'],
    ['smtp-ingress', 587, 'SUBMISSION_PORT'],
    ['smtp-ingress', 465, 'SUBMISSIONS_PORT'],
    ['pop3', 110, 'POP3_PORT'],
    ['pop3', 995, 'POP3S_PORT'],
    ['imap', 143, 'IMAP_PORT'],
    ['imap', 993, 'IMAPS_PORT'],
    ['admin-api', 8080, 'ADMIN_PORT'],
  ];
  it.each(standard)('%s: standard port %i is published to %s', (name, host, key) => {
    const c = config(name);
    const published = (compose.services[name]!.ports ?? []).map((p) => p.split(':'));
    expect(published.some((parts) => Number(parts.at(-2)) === host && Number(parts.at(-1)) === c[key])).toBe(true);
  });

  it.each(services)('%s: listens on an unprivileged port in the container and keeps no capability', (name) => {
    const c = config(name);
    for (const k of [...listenerPortKeys(schemas.get(name)!), 'HEALTH_PORT']) expect(c[k] as number, `${name} ${k}`).toBeGreaterThanOrEqual(1024);
    const s = compose.services[name]!;
    expect(s.read_only).toBe(true);
    expect(s.cap_drop).toEqual(['ALL']);
    expect(s.security_opt).toContain('no-new-privileges:true');
    expect(s.privileged).toBeUndefined();
    expect(s.sysctls).toBeUndefined();
  });

  it.each(services)('%s: waits for PostgreSQL, Redis and the migrations; stops within its grace period', (name) => {
    const s = compose.services[name]!;
    expect(s.depends_on).toMatchObject({
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    expect(seconds(s.stop_grace_period ?? '10s') * 1000).toBeGreaterThan(config(name).SHUTDOWN_TIMEOUT_MS as number);
    expect(s.restart).toBe('unless-stopped');
  });

  it.each(services)('%s: passes TLS files when its schema knows them, from the mounted certificates folder', (name) => {
    const keys = ['TLS_CERT_FILE', 'TLS_KEY_FILE'].filter((k) => k in schemas.get(name)!.shape);
    const e = env(name);
    for (const k of keys) {
      expect(e[k], `${name} ${k}`).toMatch(/^\/etc\/hopmail\/certs\//);
      expect(compose.services[name]!.volumes ?? []).toContainEqual(expect.stringMatching(/:\/etc\/hopmail\/certs:ro$/));
    }
  });

  it('mounts the certificates folder read-only where TLS will be served', () => {
    for (const name of ['smtp-ingress', 'pop3', 'imap']) expect(compose.services[name]?.volumes ?? []).toContainEqual(expect.stringMatching(/:\/etc\/hopmail\/certs:ro$/));
  });

  it('runs the migrations once, with the `pnpm migrate` command, before the services', () => {
    const m = compose.services.migrate!;
    expect(m.build?.target).toBe('migrate');
    expect(m.command ?? migrateCommand('.js')).toEqual(migrateCommand('.js'));
    expect(m.restart).toBe('no');
    expect(m.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    expect(Object.keys(m.environment ?? {})).toEqual(['DATABASE_URL']);
    expect(m.environment?.DATABASE_URL).toBe(env('routing').DATABASE_URL);
  });

  it('runs Redis as a queue: append-only file, noeviction, on a volume', () => {
    const r = compose.services.redis!;
    const cmd = (r.command ?? []).join(' ');
    expect(cmd).toContain('--appendonly yes');
    expect(cmd).toContain('--maxmemory-policy noeviction');
    expect(r.volumes).toContainEqual(expect.stringMatching(/:\/data$/));
    expect(r.healthcheck?.test).toBeDefined();
  });

  it('keeps PostgreSQL on a volume with a healthcheck', () => {
    const p = compose.services.postgres!;
    expect(p.volumes).toContainEqual(expect.stringMatching(/:\/var\/lib\/postgresql\/data$/));
    expect(p.healthcheck?.test.join(' ')).toContain('pg_isready');
    // TCP, not the socket: initdb's temporary server answers on the socket only.
    expect(p.healthcheck?.test.join(' ')).toMatch(/pg_isready -h 127\.0\.0\.1 /);
  });

  it('points every service at the same PostgreSQL, Redis and key prefix', () => {
    const urls = new Set(services.map((s) => `${config(s).DATABASE_URL} ${config(s).REDIS_URL} ${config(s).REDIS_PREFIX}`));
    expect(urls.size).toBe(1);
  });

  it('.env.example documents exactly the variables docker-compose.yml reads, with their defaults', () => {
    const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
    const used = new Map<string, string>();
    for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g)) used.set(m[1]!, m[2] ?? '');
    const documented = new Map(
      readFileSync(join(root, '.env.example'), 'utf8')
        .split('\n')
        .filter((l) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
    );
    expect([...used.keys()].filter((k) => !documented.has(k))).toEqual([]);
    expect([...documented.keys()].filter((k) => !used.has(k))).toEqual([]);
    for (const [k, def] of used) expect(documented.get(k), k).toBe(def);
  });

  it('outbound-relay resolves through dns-cache at its fixed address', () => {
    const dns = compose.services['dns-cache']!;
    const ip = (dns.networks as Record<string, { ipv4_address?: string }>).hopmail?.ipv4_address;
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(config('outbound-relay').DNS_SERVERS).toEqual([`${ip}:${config('dns-cache').DNS_PORT}`]);
    expect(config('dns-cache').DNS_HOST).toBe('0.0.0.0');
    expect(compose.services['outbound-relay']!.depends_on).toMatchObject({ 'dns-cache': { condition: 'service_healthy' } });
    // An open resolver on the host would be abused.
    expect(dns.ports).toBeUndefined();
  });
});
