// `docker compose up` for real: the images built from the Dockerfile, the shipped
// docker-compose.yml started with Docker, the README's first steps against it (admin token,
// a domain and a mailbox through the API, a message in over SMTP and out over POP3), then a
// service killed with SIGKILL while mail flows: it comes back on its own and every message that
// got its 250 is in the mailbox, once.
//
// No registry is needed: base images come from test/deploy/compose-e2e/base-images.sh
// (debootstrap; .ci/run makes them first) and replace the official ones (node:24-slim,
// postgres:17, redis:7, debian:bookworm-slim) through build arguments and an override file; the
// shipped files keep the official names. Compose v2 (`docker compose`) runs the shipped file
// as is; Compose v1 (Debian bookworm's `docker-compose`, as on the CI machine) gets the file
// without its top-level `name:`, the one key it does not know.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@hopmail/test-kit';
import { root } from './lib.ts';

const run = promisify(execFile);
const TARGETS = ['migrate', 'smtp-ingress', 'routing', 'outbound-relay', 'dns-cache', 'pop3', 'imap', 'admin-api', 'housekeeper', 'rspamd'];
const TAG = 'e2e';

const ok = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore', timeout: 20_000 }).status === 0;

/** Why this machine cannot run the test, or null. */
function missing(): string | null {
  if (!ok('docker', ['info'])) return 'no Docker engine answers `docker info` (.ci/run installs docker.io and starts dockerd)';
  if (!ok('docker', ['compose', 'version']) && !ok('docker-compose', ['version'])) return 'neither `docker compose` (v2) nor `docker-compose` (v1) is installed';
  return null;
}
const why = missing();
if (why) console.warn(`compose-e2e.test.ts skipped: ${why}`);

/**
 * A BuildKit build (the Dockerfile's cache mounts need it): buildx where installed, else a
 * Docker client older than 23 whose `docker build` has BuildKit built in (Debian's docker.io).
 */
function buildCommand(): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  if (ok('docker', ['buildx', 'version'])) return { cmd: 'docker', args: ['buildx', 'build', '--load'], env: process.env };
  for (const client of ['docker', '/usr/bin/docker']) {
    const v = spawnSync(client, ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8' }).stdout?.trim() ?? '';
    if (/^(1\d|2[0-2])\./.test(v)) return { cmd: client, args: ['build'], env: { ...process.env, DOCKER_BUILDKIT: '1' } };
  }
  throw new Error('no BuildKit builder: install the buildx plugin, or use a Docker client before 23 (DOCKER_BUILDKIT=1)');
}

describe.skipIf(why !== null)('docker compose up, end to end', () => {
  const project = `hopmail-e2e-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'hopmail-compose-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HOPMAIL_VERSION: TAG, HOPMAIL_CERTS_DIR: join(dir, 'certs') };
  let compose: { cmd: string; args: string[] };
  const ports = { smtp: 0, pop3s: 0, admin: 0 };
  let token = '';

  const dc = async (...args: string[]) => (await run(compose.cmd, [...compose.args, ...args], { env, cwd: root, maxBuffer: 64 * 1024 * 1024 })).stdout;
  const containers = async () =>
    (await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.Label "com.docker.compose.service"}}\t{{.Status}}\t{{.Names}}'])).stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [service, status, name] = l.split('\t') as [string, string, string];
        return { service, status, name };
      });
  const inspect = async (name: string, format: string) => (await run('docker', ['inspect', '-f', format, name])).stdout.trim();
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${ports.admin}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
    return res.json() as Promise<Record<string, unknown>>;
  };
  /** POP3 over implicit TLS (the development certificate is self-signed): STAT, then RETR of each. */
  const pop3 = (user: string, pass: string) =>
    new Promise<string[]>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: ports.pop3s, rejectUnauthorized: false });
      let buf = '';
      const lines: ((text: string) => void)[] = [];
      const wait = (multi: boolean) =>
        new Promise<string>((res) => {
          lines.push((t) => res(t));
          (socket as unknown as { multi: boolean }).multi = multi;
        });
      socket.setEncoding('latin1').on('data', (d: string) => {
        buf += d;
        const multi = (socket as unknown as { multi: boolean }).multi;
        const end = multi ? (buf.startsWith('-ERR') ? buf.indexOf('\r\n') : buf.indexOf('\r\n.\r\n')) : buf.indexOf('\r\n');
        if (end < 0 || !lines.length) return;
        const text = buf.slice(0, end);
        buf = '';
        lines.shift()!(text);
      });
      socket.on('error', reject);
      void (async () => {
        const cmd = (c: string, multi = false) => {
          const p = wait(multi);
          socket.write(c + '\r\n');
          return p;
        };
        await wait(false);
        expect(await cmd(`USER ${user}`)).toMatch(/^\+OK/);
        expect(await cmd(`PASS ${pass}`)).toMatch(/^\+OK/);
        const n = Number(/^\+OK (\d+)/.exec(await cmd('STAT'))![1]);
        const messages: string[] = [];
        for (let i = 1; i <= n; i++) messages.push(await cmd(`RETR ${i}`, true));
        await cmd('QUIT');
        socket.end();
        resolve(messages);
      })().catch(reject);
    });

  beforeAll(async () => {
    // Base images without a registry (root only: debootstrap); elsewhere the official ones are pulled.
    const buildArgs: string[] = [];
    const override: Record<string, unknown> = {};
    if (process.getuid?.() === 0 || ok('docker', ['image', 'inspect', 'hopmail-ci/node:24-slim'])) {
      await run('bash', [join(root, 'test/deploy/compose-e2e/base-images.sh')], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
      buildArgs.push('--build-arg', 'NODE_IMAGE=hopmail-ci/node:24-slim', '--build-arg', 'RSPAMD_IMAGE=hopmail-ci/debian:bookworm');
      Object.assign(override, { postgres: { image: 'hopmail-ci/postgres:17' }, redis: { image: 'hopmail-ci/redis:7' } });
    }
    const build = buildCommand();
    for (const target of TARGETS) {
      await run(build.cmd, [...build.args, ...buildArgs, '--target', target, '-t', `hopmail/${target}:${TAG}`, '.'], { cwd: root, env: build.env, maxBuffer: 64 * 1024 * 1024 }).catch(
        (err: { stderr?: string }) => {
          throw new Error(`building ${target} failed:\n${(err.stderr ?? '').slice(-4000)}`);
        },
      );
    }

    // The shipped file (v2) or the same without `name:` (v1), and the override: JSON is YAML.
    const shipped = join(root, 'docker-compose.yml');
    let file = shipped;
    if (ok('docker', ['compose', 'version'])) compose = { cmd: 'docker', args: ['compose'] };
    else {
      compose = { cmd: 'docker-compose', args: [] };
      file = join(dir, 'docker-compose.yml');
      writeFileSync(file, readFileSync(shipped, 'utf8').replace(/^name: .*$/m, ''));
    }
    const overrideFile = join(dir, 'override.yml');
    writeFileSync(overrideFile, JSON.stringify({ services: override }));
    compose.args.push('-p', project, '--project-directory', root, '-f', file, '-f', overrideFile);

    // Published on loopback only, on free ports; a subnet of our own so runs do not collide.
    ports.smtp = await freePort();
    ports.pop3s = await freePort();
    ports.admin = await freePort();
    const net = 100 + (process.pid % 100);
    Object.assign(env, {
      SMTP_PUBLISH: `127.0.0.1:${ports.smtp}`,
      SUBMISSION_PUBLISH: `127.0.0.1:${await freePort()}`,
      SUBMISSIONS_PUBLISH: `127.0.0.1:${await freePort()}`,
      POP3_PUBLISH: `127.0.0.1:${await freePort()}`,
      POP3S_PUBLISH: `127.0.0.1:${ports.pop3s}`,
      IMAP_PUBLISH: `127.0.0.1:${await freePort()}`,
      IMAPS_PUBLISH: `127.0.0.1:${await freePort()}`,
      ADMIN_PUBLISH: `127.0.0.1:${ports.admin}`,
      HOPMAIL_SUBNET: `172.29.${net}.0/24`,
      HOPMAIL_DNS_CACHE_IP: `172.29.${net}.53`,
    });
    await dc('up', '-d', '--no-build');
    // `up --wait` is v2 only: every long-running service healthy, migrate exited 0.
    await waitFor(
      async () => {
        const cs = await containers();
        const failed = cs.find((c) => c.service === 'migrate' && /Exited \([1-9]/.test(c.status));
        if (failed) throw new Error(`migrate failed: ${await dc('logs', '--tail', '50', 'migrate')}`);
        return cs.length >= 12 && cs.every((c) => (c.service === 'migrate' ? c.status.startsWith('Exited (0)') : c.status.includes('(healthy)')));
      },
      { timeoutMs: 300_000, intervalMs: 2_000, what: 'compose services healthy' },
    );
  }, 1_200_000);

  afterAll(async () => {
    if (compose) await dc('down', '-v', '--remove-orphans', '-t', '5').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  it("the README's first steps: token, domain, mailbox, a message in over SMTP and out over POP3", async () => {
    token = (await dc('exec', '-T', 'admin-api', 'cat', '/var/lib/hopmail/admin-token')).trim();
    expect(token).toMatch(/^\S{24,}$/);
    await api('POST', '/v1/domains', { name: 'example.org' });
    await api('POST', '/v1/mailboxes', { address: 'alice@example.org', password: 'a long passphrase' });
    const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: ports.smtp, secure: false, ignoreTLS: true });
    const info = await smtp.sendMail({ from: 'bob@elsewhere.test', to: 'alice@example.org', subject: 'hello', text: 'first mail' });
    expect(info.response).toMatch(/^250 /);
    const messages = await waitFor(async () => {
      const m = await pop3('alice@example.org', 'a long passphrase');
      return m.length === 1 ? m : null;
    }, { timeoutMs: 30_000, what: 'the message in the mailbox' });
    expect(messages[0]).toMatch(/\r\nSubject: hello\r\n/);
    expect(messages[0]).toMatch(/\r\nfirst mail/);
  }, 120_000);

  it('a service killed with SIGKILL while mail flows restarts by itself, and nothing that got 250 is lost', async () => {
    const routing = (await containers()).find((c) => c.service === 'routing')!;
    const restartsBefore = Number(await inspect(routing.name, '{{.RestartCount}}'));
    const smtp = nodemailer.createTransport({ host: '127.0.0.1', port: ports.smtp, secure: false, ignoreTLS: true, pool: true, maxConnections: 5 });
    const sends = Array.from({ length: 60 }, (_, i) =>
      smtp.sendMail({ from: 'bob@elsewhere.test', to: 'alice@example.org', subject: `burst ${i}`, text: `message ${i}` }).then((r) => r.response),
    );
    // Mid-burst: the container's main process dies as in a crash (a host SIGKILL; `docker kill`
    // would count as a manual stop, which restart policies honour, so only as a fallback).
    await sends[10];
    const pid = Number(await inspect(routing.name, '{{.State.Pid}}'));
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      await run('docker', ['kill', '-s', 'KILL', routing.name]);
      await run('docker', ['start', routing.name]);
    }
    const replies = await Promise.all(sends);
    smtp.close();
    expect(replies.every((r) => r.startsWith('250 '))).toBe(true);
    await waitFor(async () => Number(await inspect(routing.name, '{{.RestartCount}}')) > restartsBefore || (await inspect(routing.name, '{{.State.Pid}}')) !== String(pid), {
      timeoutMs: 60_000,
      what: 'routing restarted',
    });
    const messages = await waitFor(async () => {
      const m = await pop3('alice@example.org', 'a long passphrase');
      return m.length >= 61 ? m : null;
    }, { timeoutMs: 120_000, intervalMs: 1_000, what: 'all 61 messages in the mailbox' });
    const subjects = messages.map((m) => /\r\nSubject: (.*)\r\n/.exec(m)?.[1]).filter((s) => s?.startsWith('burst '));
    expect(subjects.sort()).toEqual(Array.from({ length: 60 }, (_, i) => `burst ${i}`).sort());
    expect(messages).toHaveLength(61);
  }, 300_000);
});
