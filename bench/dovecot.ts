// Debian's Dovecot as the bench's peer for POP3 and IMAP: one user `reader` (password `bench`)
// whose Maildir holds the same messages Hopmail is measured on, on loopback, in a temporary
// directory, stopped and removed afterwards.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@hopmail/test-kit';

const DOVECOT = '/usr/sbin/dovecot';

export interface Dovecot {
  port: number;
  version: string;
  stop(): Promise<void>;
}

/** Dovecot serving `protocol` on a free port with `messages` in reader's Maildir, in order; null when not installed. */
export async function startDovecot(protocol: 'pop3' | 'imap', messages: Iterable<Buffer>, options: { cpu?: number } = {}): Promise<Dovecot | null> {
  if (!existsSync(DOVECOT) || !existsSync(`/usr/lib/dovecot/${protocol}`)) return null;
  const dir = mkdtempSync(join(tmpdir(), `bench-dovecot-${protocol}-`));
  chmodSync(dir, 0o755); // the mail user (nobody, when we are root) must reach its home
  // Dovecot refuses uid 0 for mail users: as root the mail belongs to nobody.
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const user = uid === 0 ? { uid: 'nobody', gid: 'nogroup', n: 65534, g: 65534 } : { uid: String(uid), gid: String(gid), n: uid, g: gid };
  const maildir = join(dir, 'home/reader/Maildir');
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, d), { recursive: true });
  let i = 0;
  // Maildir names sort in delivery order; S= saves Dovecot a stat for the size.
  for (const raw of messages) writeFileSync(join(maildir, 'cur', `${1_700_000_000 + i}.M${i++}P1.bench,S=${raw.length}:2,`), raw);
  for (const d of ['run', 'state']) mkdirSync(join(dir, d));
  const port = await freePort();
  // Only our protocol on our port; the other listeners (imap beside pop3, imaps) on none.
  const services =
    protocol === 'pop3'
      ? `service pop3-login {\n  inet_listener pop3 {\n    address = 127.0.0.1\n    port = ${port}\n  }\n}\nservice imap-login {\n  inet_listener imap {\n    port = 0\n  }\n}`
      : `service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = ${port}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}`;
  writeFileSync(
    join(dir, 'dovecot.conf'),
    [
      `base_dir = ${dir}/run`,
      `state_dir = ${dir}/state`,
      `log_path = ${dir}/dovecot.log`,
      `protocols = ${protocol}`,
      'listen = 127.0.0.1',
      'ssl = no',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain',
      'passdb {\n  driver = static\n  args = password=bench\n}',
      `userdb {\n  driver = static\n  args = uid=${user.uid} gid=${user.gid} home=${dir}/home/%n\n}`,
      `mail_location = maildir:${dir}/home/%n/Maildir`,
      'first_valid_uid = 1',
      services,
      '',
    ].join('\n'),
  );
  execFileSync('chown', ['-R', `${user.n}:${user.g}`, join(dir, 'home')]);
  // On one CPU when asked (taskset; every process it forks inherits it).
  const argv = [DOVECOT, '-F', '-c', join(dir, 'dovecot.conf')];
  const child = options.cpu === undefined ? spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' }) : spawn('taskset', ['-c', String(options.cpu), ...argv], { stdio: 'ignore' });
  const stop = async () => {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, version: execFileSync(DOVECOT, ['--version']).toString().trim(), stop };
}

export async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/**
 * The service's sessions and Dovecot's (`theirs`, null when Dovecot is not installed) taking
 * turns: a first session each (Dovecot builds its index, the service compiles its hot path),
 * then `rounds` of each, the order swapped every round, so that a machine whose load drifts
 * weighs on both alike.
 */
export async function takeTurns<A, B>(rounds: number, ours: () => Promise<A>, theirs: (() => Promise<B>) | null): Promise<{ cold: A; coldTheirs: B | null; ours: A[]; theirs: B[] }> {
  const cold = await ours();
  const coldTheirs = theirs ? await theirs() : null;
  const mine: A[] = [];
  const other: B[] = [];
  for (let i = 0; i < rounds; i++) {
    if (theirs && i % 2 === 1) other.push(await theirs());
    mine.push(await ours());
    if (theirs && i % 2 === 0) other.push(await theirs());
  }
  return { cold, coldTheirs, ours: mine, theirs: other };
}
