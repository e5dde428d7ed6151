// `pnpm migrate` started before PostgreSQL listens (compose starts it beside a database that
// is still in its first-start initdb): it waits, then migrates, rather than failing.
import { spawn } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { baseUrls, freePort, uniqueName } from '@hopmail/test-kit';
import { afterAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('./migrate-cli.ts', import.meta.url));
const created: string[] = [];

afterAll(async () => {
  const admin = new pg.Client({ connectionString: baseUrls().databaseUrl });
  await admin.connect();
  for (const name of created) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
});

function run(env: Record<string, string>) {
  const p = spawn(process.execPath, [cli], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
  return { exited, output: () => out };
}

describe('pnpm migrate and a PostgreSQL that is not up yet', () => {
  it('waits (migrate.waiting) until PostgreSQL accepts connections, then creates and migrates the database', async () => {
    const real = new URL(baseUrls().databaseUrl);
    const port = await freePort();
    const name = uniqueName('mwait');
    created.push(name);
    const url = new URL(real);
    url.host = `127.0.0.1:${port}`;
    url.pathname = `/${name}`;
    const m = run({ DATABASE_URL: url.toString(), MIGRATE_WAIT_MS: '30000' });
    // Nothing listens on the port yet: connection refused, and migrate keeps trying.
    for (let i = 0; i < 200 && !m.output().includes('migrate.waiting'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(m.output()).toContain('"event":"migrate.waiting"');
    expect(m.output()).toContain('ECONNREFUSED');
    // PostgreSQL "comes up" on that port (a forwarder to the real one).
    const sockets = new Set<Socket>();
    const server = createServer((c) => {
      const up = connect(Number(real.port || 5432), real.hostname);
      sockets.add(c).add(up);
      c.pipe(up).pipe(c);
      c.on('error', () => up.destroy());
      up.on('error', () => c.destroy());
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    try {
      expect(await m.exited, m.output()).toBe(0);
      expect(m.output()).toContain('"event":"migrate.done"');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('gives up with a non-zero exit once MIGRATE_WAIT_MS has passed', async () => {
    const port = await freePort();
    const m = run({ DATABASE_URL: `postgres://root@127.0.0.1:${port}/nowhere`, MIGRATE_WAIT_MS: '600' });
    expect(await m.exited).not.toBe(0);
    expect(m.output()).toContain('ECONNREFUSED');
  });
});
