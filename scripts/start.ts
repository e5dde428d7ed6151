// `pnpm start`: the whole cluster in the foreground, every service its own process, after
// migrations. A supervisor in the manner of Postfix's master(8): a service that dies is
// restarted with backoff; SIGINT/SIGTERM stop everything in order; a second signal kills.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '@hopmail/config';
import { ensureDatabase, migrate } from '@hopmail/db';
import { ensureDevCertificate } from '@hopmail/tls';
import { serviceCommand, serviceEntry, supervisorConfigSchema } from '@hopmail/service-kit';

const root = fileURLToPath(new URL('..', import.meta.url));

const config = loadConfig('start', supervisorConfigSchema);

function log(event: string, msg: string, extra: Record<string, unknown> = {}, level = 'info') {
  process.stdout.write(JSON.stringify({ level, time: new Date().toISOString(), service: 'start', event, msg, ...extra }) + '\n');
}

const available = readdirSync(join(root, 'services')).filter((s) => existsSync(join(root, serviceEntry(s))));
const wanted = config.HOPMAIL_SERVICES ? config.HOPMAIL_SERVICES.split(',').map((s) => s.trim()) : available;
const unknown = wanted.filter((s) => !available.includes(s));
if (unknown.length) {
  log('start.unknown-service', `unknown services: ${unknown.join(', ')}`, { available }, 'error');
  process.exit(2);
}

const env: Record<string, string> = { DATABASE_URL: config.DATABASE_URL, REDIS_URL: config.REDIS_URL };

// Development convenience: a generated admin token kept in the state dir, never printed.
if (!process.env.ADMIN_TOKEN && config.NODE_ENV !== 'production' && wanted.includes('admin-api')) {
  const dir = resolve(root, config.HOPMAIL_STATE_DIR);
  const file = join(dir, 'admin-token');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(24).toString('base64url') + '\n', { mode: 0o600 });
  }
  env.ADMIN_TOKEN = readFileSync(file, 'utf8').trim();
  log('start.admin-token', `admin API token is in ${file}`);
}

// Development convenience: secrets shared by several services, generated into the state dir
// and kept across starts, never printed — the DKIM key-encryption key (admin-api encrypts,
// outbound-relay decrypts) and the SRS secret (outbound-relay signs, smtp-ingress checks).
// Only when this supervisor runs every service that shares one: otherwise (compose runs
// admin-api alone under it) the services would disagree, and each falls back to the same
// public development value instead, saying so in its log.
function stateSecret(file: string, variable: string, users: string[], make: () => string) {
  if (process.env[variable] || config.NODE_ENV === 'production' || !users.every((u) => wanted.includes(u))) return;
  const dir = resolve(root, config.HOPMAIL_STATE_DIR);
  const path = join(dir, file);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(path, make() + '\n', { mode: 0o600 });
  }
  env[variable] = readFileSync(path, 'utf8').trim();
  log('start.state-secret', `${variable} is in ${path}`, { variable, file: path });
}
stateSecret('dkim-key-encryption-key', 'DKIM_KEY_ENCRYPTION_KEY', ['admin-api', 'outbound-relay'], () => randomBytes(32).toString('base64'));
stateSecret('srs-secret', 'SRS_SECRET', ['smtp-ingress', 'outbound-relay'], () => randomBytes(24).toString('base64url'));

// Development convenience: a self-signed certificate for STARTTLS and the submission and
// POP3S and IMAPS listeners when none is configured. In production the services refuse to start
// without TLS_CERT_FILE/TLS_KEY_FILE (exit 78), so nothing is generated there.
if (!process.env.TLS_CERT_FILE && !process.env.TLS_KEY_FILE && config.NODE_ENV !== 'production') {
  const dir = join(resolve(root, config.HOPMAIL_STATE_DIR), 'certs');
  const cert = ensureDevCertificate(dir, ['localhost', '127.0.0.1', '::1']);
  env.TLS_CERT_FILE = cert.certFile;
  env.TLS_KEY_FILE = cert.keyFile;
  log(
    'start.dev-certificate',
    cert.created ? `created a self-signed development certificate ${cert.certFile} (clients will not trust it)` : `using the self-signed development certificate ${cert.certFile}`,
    { certFile: cert.certFile, keyFile: cert.keyFile, created: cert.created },
  );
}

// The content filter is optional in development: smtp-ingress scans with rspamd when
// RSPAMD_URL names one (and says so in its own start-up line), and accepts unscanned otherwise.
if (wanted.includes('smtp-ingress')) {
  if (process.env.RSPAMD_URL) log('start.content-filter', `smtp-ingress scans messages with rspamd at ${process.env.RSPAMD_URL}`, { url: process.env.RSPAMD_URL });
  else log('start.content-filter', 'no content filter: RSPAMD_URL is unset, messages are not scanned for spam', { url: null });
}

try {
  await ensureDatabase(config.DATABASE_URL);
  const applied = await migrate(config.DATABASE_URL);
  log('start.migrated', 'migrations applied', { applied });
} catch (err) {
  log('start.migrate-failed', `cannot prepare the database: ${(err as Error).message}`, {}, 'fatal');
  process.exit(1);
}

// The web console admin-api serves: built (Vite) when its sources changed since the last build.
// Only in the source tree: the compiled tree (the images) ships it built by `pnpm build`.
const consoleBuild = join(root, 'services/admin-api/web/build.ts');
if (wanted.includes('admin-api') && existsSync(consoleBuild)) {
  try {
    const out = execFileSync(process.execPath, [consoleBuild, '--if-stale'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    log('start.console-built', out.trim());
  } catch (err) {
    log('start.console-build-failed', `the web console could not be built (the API works without it): ${String((err as { stderr?: string }).stderr || (err as Error).message).slice(0, 2000)}`, {}, 'error');
  }
}
if (wanted.includes('admin-api')) {
  const host = process.env.ADMIN_HOST && !['0.0.0.0', '::', '127.0.0.1'].includes(process.env.ADMIN_HOST) ? process.env.ADMIN_HOST : 'localhost';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${process.env.ADMIN_PORT || 8080}/`;
  log('start.console-url', `web console: ${url} (sign in with the admin token or an API key)`, { url });
  process.stderr.write(`\n  Hopmail web console: ${url}\n\n`);
}

interface Supervised {
  name: string;
  child?: ChildProcess;
  restarts: number;
  startedAt: number;
}
const services: Supervised[] = wanted.map((name) => ({ name, restarts: 0, startedAt: 0 }));
let stopping = false;

function launch(s: Supervised) {
  s.startedAt = Date.now();
  // The table's argv with this very Node binary (the repository's Node 24, not the PATH's).
  const [, ...args] = serviceCommand(s.name);
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
    // Own process group: a terminal's Ctrl-C reaches only this supervisor, which then
    // sends exactly one SIGTERM (a second signal would force the child to exit at once).
    detached: true,
  });
  s.child = child;
  child.on('exit', (code, signal) => {
    s.child = undefined;
    if (stopping) return maybeDone();
    // Backoff grows with rapid repeated failures, resets after a minute of uptime.
    if (Date.now() - s.startedAt > 60_000) s.restarts = 0;
    const delay = Math.min(30_000, 500 * 2 ** s.restarts++);
    log('start.service-exited', `${s.name} exited (${signal ?? code}); restarting in ${delay} ms`, { child: s.name, code, signal, delay }, 'warn');
    setTimeout(() => !stopping && launch(s), delay);
  });
}

const exitCode = 0;
function maybeDone() {
  if (services.every((s) => !s.child)) {
    log('start.stopped', 'all services stopped');
    process.exit(exitCode);
  }
}

function stop(signal: NodeJS.Signals) {
  if (stopping) {
    log('start.forced', 'second signal: killing every service', {}, 'warn');
    for (const s of services) s.child?.kill('SIGKILL');
    process.exit(1);
  }
  stopping = true;
  log('start.stopping', `${signal}: stopping services`);
  for (const s of services) s.child?.kill('SIGTERM');
  maybeDone();
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('exit', () => {
  for (const s of services) s.child?.kill('SIGKILL');
});
process.on('SIGTERM', () => stop('SIGTERM'));

for (const s of services) launch(s);
log('start.running', `running ${wanted.join(', ')}`, { services: wanted });
