// What the images ship, run for real: `pnpm build` into a temporary directory, production
// dependencies linked the way `pnpm install --prod` lays them out in the image, then the
// compiled services, migrations and supervisor started with the commands of
// packages/service-kit/src/services.ts. The Dockerfile runs exactly this tree (images.test.ts).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseUrls, createTestDatabase, freePort, redisPrefix, uniqueName, waitFor, type TestDatabase } from '@hopmail/test-kit';
import { migrateCommand, serviceCommand, superviseCommand } from '@hopmail/service-kit';
import { root, serviceNames } from './lib.ts';

const run = promisify(execFile);
const out = mkdtempSync(join(tmpdir(), 'hopmail-dist-'));
const services = serviceNames();
let db: TestDatabase;
const children: ChildProcess[] = [];

/** Each project's production dependencies: workspace ones to the compiled copies, others to the installed packages. */
function linkProductionDependencies(): void {
  const projects = ['.', ...['packages', 'services'].flatMap((g) => readdirSync(join(out, g)).map((d) => `${g}/${d}`))].filter((p) => existsSync(join(out, p, 'package.json')));
  const byName = new Map(projects.map((p) => [JSON.parse(readFileSync(join(out, p, 'package.json'), 'utf8')).name as string, p]));
  for (const p of projects) {
    const manifest = JSON.parse(readFileSync(join(out, p, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      const link = join(out, p, 'node_modules', dep);
      mkdirSync(dirname(link), { recursive: true });
      const workspace = byName.get(dep);
      const target = workspace !== undefined ? join(out, workspace) : realpathSync(join(root, p, 'node_modules', dep));
      symlinkSync(relative(dirname(link), target), link);
    }
  }
}

function start(argv: string[], env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const [, ...args] = argv;
  const child = spawn(process.execPath, args, { cwd: out, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (text += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

beforeAll(async () => {
  await run(process.execPath, [join(root, 'scripts/build.ts'), out], { cwd: root, maxBuffer: 16 * 1024 * 1024 }).catch((err: { stdout?: string; stderr?: string }) => {
    throw new Error(`pnpm build failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  });
  linkProductionDependencies();
  db = await createTestDatabase();
}, 300_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await db?.drop();
  rmSync(out, { recursive: true, force: true });
});

describe('the compiled tree (pnpm build)', () => {
  it('has JavaScript for every start command and no TypeScript or tests', () => {
    for (const s of services) expect(existsSync(join(out, serviceCommand(s, '.js').at(-1)!)), s).toBe(true);
    expect(existsSync(join(out, migrateCommand('.js')[1]!))).toBe(true);
    expect(existsSync(join(out, superviseCommand('.js')[1]!))).toBe(true);
    expect(existsSync(join(out, 'packages/db/migrations/0001_core.sql'))).toBe(true);
    expect(existsSync(join(out, 'packages/test-kit/src'))).toBe(false);
    const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.name === 'node_modules' ? [] : e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
    expect(files(out).filter((f) => f.endsWith('.ts') || /\.test\./.test(f))).toEqual([]);
    // Workspace packages resolve to the compiled files.
    expect(JSON.parse(readFileSync(join(out, 'packages/config/package.json'), 'utf8')).exports).toEqual({ '.': './src/index.js' });
  });

  it.each(services)('%s: the compiled service loads its whole module graph (--print-config)', async (s) => {
    // Production's required secrets (ADMIN_TOKEN, the DKIM key-encryption key, the SRS secret), as a deployment sets them.
    const p = start([...serviceCommand(s, '.js'), '--print-config'], { ADMIN_TOKEN: 'x'.repeat(32), DKIM_KEY_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'), SRS_SECRET: 'y'.repeat(24), NODE_ENV: 'production' });
    expect(await p.exited, p.output()).toBe(0);
    expect(JSON.parse(p.output())).toMatchObject({ NODE_ENV: 'production' });
  }, 60_000);

  it('the compiled `pnpm migrate` creates and migrates a database', async () => {
    const url = new URL(baseUrls().databaseUrl);
    url.pathname = '/' + uniqueName('hm_dist');
    const p = start(migrateCommand('.js'), { DATABASE_URL: url.toString() });
    try {
      expect(await p.exited, p.output()).toBe(0);
      expect(p.output()).toContain('"event":"migrate.done"');
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      const { rows } = await client.query<{ version: string }>('SELECT version FROM schema_migrations ORDER BY version');
      await client.end();
      expect(rows.map((r) => r.version)).toContain('0001_core');
    } finally {
      const admin = new pg.Client({ connectionString: baseUrls().databaseUrl });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${url.pathname.slice(1)} WITH (FORCE)`);
      await admin.end();
    }
  }, 60_000);

  it('a compiled service runs for real: ready against PostgreSQL and Redis, exits 0 on SIGTERM', async () => {
    const healthPort = await freePort();
    const p = start(serviceCommand('routing', '.js'), { DATABASE_URL: db.url, REDIS_URL: baseUrls().redisUrl, REDIS_PREFIX: redisPrefix(), HEALTH_PORT: String(healthPort), HEALTH_HOST: '127.0.0.1' });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status === 200, { what: 'compiled routing ready', timeoutMs: 20_000 });
    p.child.kill('SIGTERM');
    expect(await p.exited, p.output()).toBe(0);
    expect(p.output()).toContain('"event":"shutdown.done"');
  }, 40_000);

  it('the compiled supervisor (`pnpm start`) migrates, starts a service with the same command, and stops it', async () => {
    const healthPort = await freePort();
    const p = start(superviseCommand('.js'), {
      HOPMAIL_SERVICES: 'routing',
      DATABASE_URL: db.url,
      REDIS_URL: baseUrls().redisUrl,
      REDIS_PREFIX: redisPrefix(),
      HEALTH_PORT: String(healthPort),
      HEALTH_HOST: '127.0.0.1',
    });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`).catch(() => undefined))?.status === 200, { what: 'supervised routing ready', timeoutMs: 20_000 });
    expect(p.output()).toContain('"event":"start.migrated"');
    p.child.kill('SIGTERM');
    expect(await p.exited, p.output()).toBe(0);
    expect(p.output()).toContain('"event":"start.stopped"');
  }, 40_000);
});
