import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './infra.ts';

/** Where Debian's package puts the daemon (`.ci/run` installs it). */
export const RSPAMD_BIN = process.env.RSPAMD_BIN ?? '/usr/bin/rspamd';

/** GTUBE (rspamd's `gtube_patterns = "all"`): rspamd answers `reject` for a message carrying it. */
export const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
/** A Subject: containing this makes the test configuration answer `add header`. */
export const RSPAMD_TEST_ADD_HEADER = 'hopmail-test-add-header';
/** A Subject: containing this makes the test configuration answer `soft reject`. */
export const RSPAMD_TEST_SOFT_REJECT = 'hopmail-test-soft-reject';
/** A Subject: containing this makes the test configuration answer `rewrite subject`. */
export const RSPAMD_TEST_REWRITE_SUBJECT = 'hopmail-test-rewrite-subject';

export interface TestRspamd {
  /** The normal worker (`/checkv2`). */
  url: string;
  /** The same worker on a Unix-domain socket (`unix:/…/normal.sock`). */
  unixUrl: string;
  /** The controller worker (`/learnspam`, `/learnham`). */
  controllerUrl: string;
  /** The main process (its workers are its children: benchmarks read their CPU from /proc). */
  pid: number;
  /** SIGKILLs the daemon and its workers (a crash, for fail-open/fail-closed tests); stop() still cleans up. */
  kill(): void;
  stop(): Promise<void>;
}

/** Why rspamd cannot run here, or null when it can (tests skip with this reason printed). */
export function rspamdUnavailable(): string | null {
  return existsSync(RSPAMD_BIN) ? null : `rspamd not found at ${RSPAMD_BIN} (.ci/run installs Debian's rspamd)`;
}

// Modules that would look things up on the network (DNS lists, fuzzy storage, SPF/DKIM
// records, reputation services) or keep state of their own in Redis: off in tests. The DNS
// resolver points at a closed port as well, so whatever is left cannot reach the Internet.
const DISABLED_MODULES = [
  'rbl', 'surbl', 'fuzzy_check', 'spf', 'dkim', 'dmarc', 'arc', 'asn', 'phishing', 'neural', 'reputation', 'ratelimit',
  'replies', 'greylist', 'url_reputation', 'emails', 'dkim_signing', 'multimap', 'history_redis', 'mx_check',
  'whitelist', 'maillist', 'clickhouse', 'elastic', 'metadata_exporter', 'hfilter', 'once_received', 'fuzzy_check',
];

/** The rule the rspamd image ships (Dockerfile): smtp-ingress's authentication results as rspamd's symbols. */
const HOPMAIL_LUA = new URL('../../../deploy/rspamd/hopmail.lua', import.meta.url);

// Custom rules deciding the action from the Subject, so that tests can ask for each action.
const LOCAL_LUA = `
local function subject_rule(name, needle, action, message)
  rspamd_config:register_symbol({
    name = name, score = 0.0, group = 'hopmail_test',
    callback = function(task)
      local subject = task:get_subject() or ''
      if subject:find(needle, 1, true) then
        task:set_pre_result(action, message, name)
        return true
      end
      return false
    end,
  })
end
subject_rule('HOPMAIL_TEST_ADD_HEADER', '${RSPAMD_TEST_ADD_HEADER}', 'add header', 'test add header')
subject_rule('HOPMAIL_TEST_SOFT_REJECT', '${RSPAMD_TEST_SOFT_REJECT}', 'soft reject', 'Try again later (test)')
subject_rule('HOPMAIL_TEST_REWRITE_SUBJECT', '${RSPAMD_TEST_REWRITE_SUBJECT}', 'rewrite subject', 'test rewrite subject')
`;

/**
 * Starts a real rspamd (Debian's package) on 127.0.0.1 with a throw-away configuration:
 * the packaged rules, the network modules off, GTUBE patterns on, three test rules, and
 * Bayes statistics in `redisUrl` (give it a private Redis: rspamd's keys have no prefix).
 * Runs as root with `-i` when the tests do (containers).
 */
export async function startRspamd(options: { redisUrl?: string } = {}): Promise<TestRspamd> {
  const reason = rspamdUnavailable();
  if (reason) throw new Error(reason);
  const dir = await mkdtemp(join(tmpdir(), 'hopmail-rspamd-'));
  const local = join(dir, 'local');
  await Promise.all(['override.d', 'local.d'].map((d) => mkdir(join(local, d), { recursive: true })));
  await Promise.all(['run', 'log'].map((d) => mkdir(join(dir, d))));
  // rspamd compiles its regular expressions (hyperscan) at start and caches them in DBDIR:
  // tens of seconds cold on a busy machine, instant warm. The cache is shared by every test
  // run (files are keyed by the hash of what they compile and written by rename).
  const dbDir = process.env.RSPAMD_TEST_DBDIR ?? join(tmpdir(), 'hopmail-rspamd-cache');
  await mkdir(dbDir, { recursive: true });
  const port = await freePort();
  const socketPath = join(dir, 'run', 'normal.sock');
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const files: Record<string, string> = {
    'override.d/worker-normal.inc': `bind_socket = "127.0.0.1:${port}";\nbind_socket = "${socketPath} mode=0666";\ncount = 1;\n`,
    'override.d/worker-controller.inc': `bind_socket = "127.0.0.1:${controllerPort}";\ncount = 1;\nsecure_ip = "127.0.0.1";\n`,
    'override.d/worker-proxy.inc': 'enabled = false;\n',
    'override.d/logging.inc': 'type = "console";\nlevel = "error";\n',
    'local.d/options.inc': 'gtube_patterns = "all";\ndns { nameserver = ["127.0.0.1:1"]; timeout = 0.1s; retransmits = 0; }\n',
    'local.d/actions.conf': 'reject = 15;\nadd_header = 6;\ngreylist = null;\nrewrite_subject = null;\n',
    // The production image's rule (authentication results from smtp-ingress), then the test rules.
    'rspamd.local.lua': `${await readFile(HOPMAIL_LUA, 'utf8')}\n${LOCAL_LUA}`,
  };
  for (const m of DISABLED_MODULES) files[`local.d/${m}.conf`] = 'enabled = false;\n';
  if (options.redisUrl) {
    const u = new URL(options.redisUrl);
    files['local.d/redis.conf'] = `servers = "${u.hostname}:${u.port || 6379}";\n`;
    files['local.d/classifier-bayes.conf'] = `backend = "redis";\nservers = "${u.hostname}:${u.port || 6379}";\nmin_learns = 1;\nautolearn = false;\n`;
  }
  for (const [name, text] of Object.entries(files)) await writeFile(join(local, name), text);

  const args = ['-f', '-c', '/etc/rspamd/rspamd.conf', '--var', `LOCAL_CONFDIR=${local}`, '--var', `DBDIR=${dbDir}`, '--var', `RUNDIR=${join(dir, 'run')}`, '--var', `LOGDIR=${join(dir, 'log')}`];
  if (process.getuid?.() === 0) args.push('-i');
  // Its own process group: the main process forks workers, kill() must reach them all.
  const child: ChildProcess = spawn(RSPAMD_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    if (stderr.length < 8192) stderr += b.toString('utf8');
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  const controllerUrl = `http://127.0.0.1:${controllerPort}`;
  const kill = () => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  try {
    await waitFor(async () => {
      if (exited) throw new Error(`rspamd exited at start: ${stderr}`);
      const ok = await Promise.all([url, controllerUrl].map((u) => fetch(`${u}/ping`).then((r) => r.ok, () => false)));
      return ok.every(Boolean);
    }, { timeoutMs: 120_000, intervalMs: 100, what: 'rspamd' });
  } catch (err) {
    kill();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}; rspamd said: ${stderr.slice(-2000)}`);
  }
  return {
    url,
    unixUrl: `unix:${socketPath}`,
    controllerUrl,
    pid: child.pid!,
    kill,
    async stop() {
      kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
