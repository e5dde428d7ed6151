// POP3 benchmark: one session that LISTs and RETRs every message of a mailbox holding
// 2,000 messages of 4 KiB, against the pop3 service running as its own process (so its
// peak RSS is the service's alone) and, when installed, Debian's Dovecot on the same messages
// with the same client: the reference. One command in flight, so a session measures the
// round trip per RETR, and on a 2-core machine shared by client and server a single 0.2 s
// session swings by half from one run to the next (where the scheduler puts the two): after a
// first session each (Dovecot builds its index; the service compiles its hot path), the two
// take turns for `rounds` sessions each, the order swapped every round, and the medians and
// per-round ratios are reported. Run alone: `pnpm exec node bench/pop3.ts` [--messages N]
// [--size BYTES] [--window N] [--chunk BYTES] [--rounds N].
import { execFileSync } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { connect, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createTestDatabase, redisPrefix, startServiceProcess } from '@hopmail/test-kit';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { seedMailbox } from '../services/pop3/test/support.ts';
import { procCpuMs, procStatusKiB } from './proc.ts';
import { startDovecot, takeTurns } from './dovecot.ts';
import { median } from './stats.ts';

export interface BenchPop3Options {
  /** Messages in the mailbox (default 2,000). */
  messages?: number;
  /** Octets per message (default 4 KiB). */
  messageBytes?: number;
  /** RETR commands in flight at once (PIPELINING); 1 = strictly one after another. */
  window?: number;
  /** RETR_CHUNK_BYTES of the service. */
  chunkBytes?: number;
  /** Measured sessions per server, taking turns (default BENCH_POP3_ROUNDS or 5). */
  rounds?: number;
  /** Client on CPU 0, each server on CPU 1 (default BENCH_POP3_PIN, on where there are two CPUs). */
  pin?: boolean;
  log?: (line: string) => void;
}

export interface BenchPop3Result {
  name: 'pop3';
  messages: number;
  messageBytes: number;
  window: number;
  rounds: number;
  /** Client and server each on their own CPU (taskset). */
  pinned: boolean;
  /** Median of the measured sessions. */
  messagesPerSecond: number;
  mibPerSecond: number;
  /** Each measured session, in order. */
  roundsPerSecond: number[];
  listMs: number;
  /** VmHWM of the service process after the sessions, and its RSS when idle before them. */
  peakRssMiB: number;
  idleRssMiB: number;
  /** Median service CPU time of a measured session (LIST + RETRs): comparable on a busy machine. */
  serviceCpuMs: number;
  /** The first session, on a service that had served none (its hot path not yet compiled). */
  coldMessagesPerSecond: number;
  coldServiceCpuMs: number;
  /** The same sessions against Dovecot, taking turns with the service's; absent when not installed. */
  dovecot?: { version: string; messagesPerSecond: number; roundsPerSecond: number[]; coldMessagesPerSecond: number; listMs: number };
  /** Service ÷ Dovecot: of the medians, each round's, and the median of those. */
  ratio?: { ofMedians: number; perRound: number[]; medianOfRounds: number };
}

/** Message i of the bench mailboxes: exactly `size` octets (bench/imap.ts uses the same). */
export function message(i: number, size: number): Buffer {
  const head = `From: bench@example.net\r\nTo: reader@bench.example\r\nSubject: bench ${i}\r\nMessage-ID: <${i}@bench>\r\n\r\n`;
  const lines: string[] = [];
  let len = head.length;
  for (let l = 0; len < size; l++) {
    // Every 10th line starts with '.', so stuffing is on the measured path.
    const text = (l % 10 === 0 ? '.' : '') + `line ${l} of message ${i} `.padEnd(72, 'x') + '\r\n';
    lines.push(text);
    len += text.length;
  }
  // Exactly `size` octets, ending in CRLF like all stored mail.
  return Buffer.concat([Buffer.from(head + lines.join('')).subarray(0, size - 2), Buffer.from('\r\n')]);
}

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

interface Reply {
  status: string;
  /** Multi-line replies: un-stuffed length and SHA-1 of the body. */
  length?: number;
  sha1?: string;
}

/**
 * A streaming POP3 client for measuring the server, not itself: each received byte is
 * looked at once, bodies are un-stuffed and hashed on the fly, nothing accumulates.
 */
class StreamClient {
  private readonly socket: Socket;
  private readonly expect: { multi: boolean; resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private carry = Buffer.alloc(0);
  private mode: 'line' | 'body' = 'line';
  private lineParts: Buffer[] = [];
  private atLineStart = true;
  private hash: Hash | null = null;
  private bodyLength = 0;
  private status = '';

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.expect.splice(0).forEach((e) => e.reject(new Error('connection closed'))));
  }

  static async connect(port: number): Promise<StreamClient> {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    return new StreamClient(s);
  }

  /** Queues the reply to an already-sent (or greeting) command. */
  reply(multi: boolean): Promise<Reply> {
    return new Promise((resolve, reject) => this.expect.push({ multi, resolve, reject }));
  }

  send(text: string): void {
    this.socket.write(text);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    let i = 0;
    while (i < buf.length) {
      if (this.mode === 'line') {
        const j = buf.indexOf(LF, i);
        if (j < 0) {
          this.lineParts.push(buf.subarray(i));
          return;
        }
        this.lineParts.push(buf.subarray(i, j + 1));
        i = j + 1;
        const line = Buffer.concat(this.lineParts).toString('latin1').replace(/\r?\n$/, '');
        this.lineParts = [];
        const e = this.expect[0];
        if (!e) throw new Error(`unexpected line from the server: ${JSON.stringify(line)}`);
        if (e.multi && line.startsWith('+OK')) {
          this.mode = 'body';
          this.status = line;
          this.atLineStart = true;
          this.hash = createHash('sha1');
          this.bodyLength = 0;
        } else {
          this.expect.shift()!.resolve({ status: line });
        }
        continue;
      }
      if (this.atLineStart) {
        if (buf.length - i < 3) {
          this.carry = Buffer.from(buf.subarray(i));
          return;
        }
        if (buf[i] === DOT) {
          if (buf[i + 1] === CR && buf[i + 2] === LF) {
            i += 3;
            this.mode = 'line';
            this.expect.shift()!.resolve({ status: this.status, length: this.bodyLength, sha1: this.hash!.digest('hex') });
            continue;
          }
          i += 1; // the stuffed dot
        }
        this.atLineStart = false;
      }
      const j = buf.indexOf(LF, i);
      const end = j < 0 ? buf.length : j + 1;
      this.hash!.update(buf.subarray(i, end));
      this.bodyLength += end - i;
      i = end;
      this.atLineStart = j >= 0;
    }
  }
}

/**
 * One POP3 session as a mail client runs it: USER/PASS, LIST, then RETR of every message
 * with `window` commands in flight, each body checked by `check(n, reply)`, then QUIT.
 * The clock runs from LIST to the last RETR.
 */
async function retrieveAll(o: { port: number; user: string; password: string; count: number; window: number; onLoggedIn?: () => void; check: (n: number, r: Reply) => boolean }): Promise<{ seconds: number; listMs: number; bytes: number }> {
  const { count, window } = o;
  const c = await StreamClient.connect(o.port);
  const greeting = c.reply(false);
  if (!(await greeting).status.startsWith('+OK')) throw new Error('no greeting');
  c.send(`USER ${o.user}\r\nPASS ${o.password}\r\n`);
  const [, pass] = await Promise.all([c.reply(false), c.reply(false)]);
  if (!pass.status.startsWith('+OK')) throw new Error(`login failed: ${pass.status}`);
  o.onLoggedIn?.();
  const t0 = performance.now();
  c.send('LIST\r\n');
  const list = await c.reply(true);
  if (!/^\+OK\b/.test(list.status)) throw new Error(`LIST: ${list.status}`);
  const listMs = performance.now() - t0;
  let sent = 0;
  let received = 0;
  let bytes = 0;
  const inFlight: Promise<Reply>[] = [];
  const sendMore = () => {
    const batch: string[] = [];
    while (sent < count && sent < received + window) {
      batch.push(`RETR ${++sent}\r\n`);
      inFlight.push(c.reply(true));
    }
    if (batch.length) c.send(batch.join(''));
  };
  sendMore();
  while (received < count) {
    const r = await inFlight.shift()!;
    if (!r.status.startsWith('+OK')) throw new Error(`RETR ${received + 1}: ${r.status}`);
    if (!o.check(received + 1, r)) throw new Error(`RETR ${received + 1}: bytes differ`);
    bytes += r.length!;
    received++;
    sendMore();
  }
  const seconds = (performance.now() - t0) / 1000;
  c.send('QUIT\r\n');
  const quit = await c.reply(false);
  if (!quit.status.startsWith('+OK')) throw new Error(`QUIT: ${quit.status}`);
  c.close();
  return { seconds, listMs, bytes };
}

export async function benchPop3(opts: BenchPop3Options = {}): Promise<BenchPop3Result> {
  const count = opts.messages ?? 2_000;
  const size = opts.messageBytes ?? 4_096;
  const window = Math.max(1, opts.window ?? 1);
  const rounds = Math.max(1, opts.rounds ?? Number(process.env.BENCH_POP3_ROUNDS ?? 5));
  // Where the scheduler puts client and server decides a one-command-in-flight session's rate
  // (the same core or not: sessions of the same server measured 6,300 and 15,800 msg/s). Each
  // server gets one CPU and the client the other, the same for both, as a remote client would.
  const pin = (opts.pin ?? process.env.BENCH_POP3_PIN !== '0') && availableParallelism() >= 2 && hasTaskset();
  const setCpus = (pid: number, cpus: string) => execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  const allCpus = `0-${availableParallelism() - 1}`;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  process.env.DATABASE_URL ??= 'postgres://root@127.0.0.1:5432/test';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';

  const db = await createTestDatabase();
  const service = startServiceProcess('pop3', {
    DATABASE_URL: db.url,
    REDIS_URL: process.env.REDIS_URL,
    REDIS_PREFIX: redisPrefix(),
    POP3_HOST: '127.0.0.1',
    POP3_PORT: '0',
    HEALTH_PORT: '0',
    // The bench measures the maildrop path, not TLS; loopback only.
    ALLOW_PLAINTEXT_AUTH: 'true',
    NODE_ENV: 'test',
    ...(opts.chunkBytes ? { RETR_CHUNK_BYTES: String(opts.chunkBytes) } : {}),
  });
  let dovecot: Awaited<ReturnType<typeof startDovecot>> = null;
  try {
    const address = 'reader@bench.example';
    const mailboxId = await seedMailbox(db.pool, address, 'bench password');
    log(`pop3 bench: inserting ${count} messages of ${size} octets`);
    const ids: string[] = [];
    const raws: Buffer[] = [];
    const digests: string[] = [];
    const parallel = Math.max(1, Math.min(50, Math.floor(32 * 1048576 / size)));
    for (let i = 0; i < count; i += parallel) {
      await Promise.all(
        Array.from({ length: Math.min(parallel, count - i) }, async (_, j) => {
          const raw = message(i + j, size);
          const id = newMessageId();
          ids[i + j] = id;
          raws[i + j] = raw;
          digests[i + j] = createHash('sha1').update(raw).digest('hex');
          await insertMessage(db.pool, { id, raw, mailFrom: 'bench@example.net', recipients: [address] });
        }),
      );
    }
    // In id order, so message n is digests[n - 1].
    await db.pool.query(
      `INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size)
       SELECT $1, u.id, u.id::text, m.size FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, ord) JOIN messages m ON m.id = u.id ORDER BY u.ord`,
      [mailboxId, ids],
    );
    dovecot = await startDovecot('pop3', raws, pin ? { cpu: 1 } : {});
    if (!dovecot) log('pop3 bench: Dovecot is not installed (apt-get install dovecot-pop3d); the service alone');
    await service.ready;
    const port = (service.logs.find((l) => l.event === 'pop3.listening') as { port: number }).port;
    const pid = service.child.pid!;
    const idleRssMiB = procStatusKiB(pid, 'VmRSS') / 1024;
    if (pin) {
      setCpus(pid, '1');
      setCpus(process.pid, '0');
    }

    const check = (n: number, r: Reply) => r.length === size && r.sha1 === digests[n - 1];
    const ours = async () => {
      let cpu0 = 0;
      const r = await retrieveAll({ port, user: address, password: 'bench password', count, window, onLoggedIn: () => (cpu0 = procCpuMs(pid)), check });
      return { ...r, cpuMs: procCpuMs(pid) - cpu0 };
    };
    const at = dovecot?.port;
    const turns = await takeTurns(rounds, ours, at ? () => retrieveAll({ port: at, user: 'reader', password: 'bench', count, window, check }) : null);
    const { cold, coldTheirs: coldDovecot, ours: sessions, theirs: dovecotSessions } = turns;
    const rate = (r: { seconds: number }) => count / r.seconds;
    const rates = sessions.map(rate);
    // The median session (its MiB/s and LIST time go with its rate).
    const mid = [...sessions].sort((a, b) => rate(a) - rate(b))[Math.floor(rounds / 2)]!;
    const result: BenchPop3Result = {
      name: 'pop3',
      messages: count,
      messageBytes: size,
      window,
      rounds,
      pinned: pin,
      messagesPerSecond: round(rate(mid)),
      mibPerSecond: round(mid.bytes / 1048576 / mid.seconds),
      roundsPerSecond: rates.map(round),
      listMs: round(mid.listMs),
      peakRssMiB: round(procStatusKiB(pid, 'VmHWM') / 1024),
      idleRssMiB: round(idleRssMiB),
      serviceCpuMs: median(sessions.map((s) => s.cpuMs)),
      coldMessagesPerSecond: round(rate(cold)),
      coldServiceCpuMs: cold.cpuMs,
    };
    log(
      `pop3 bench: ${count} × ${size} B, window ${window}, ${rounds} sessions${pin ? ' (client on CPU 0, server on CPU 1)' : ''}: ${result.messagesPerSecond} msg/s (sessions ${result.roundsPerSecond.join(', ')}), ${result.mibPerSecond} MiB/s, ` +
        `LIST ${result.listMs} ms, service CPU ${result.serviceCpuMs} ms (first session ${result.coldMessagesPerSecond} msg/s, CPU ${cold.cpuMs} ms), RSS idle ${result.idleRssMiB} MiB / peak ${result.peakRssMiB} MiB`,
    );
    if (dovecot && coldDovecot) {
      const theirRates = dovecotSessions.map(rate);
      const perRound = rates.map((r, i) => round(r / theirRates[i]!));
      result.dovecot = {
        version: dovecot.version,
        messagesPerSecond: round(median(theirRates)),
        roundsPerSecond: theirRates.map(round),
        coldMessagesPerSecond: round(rate(coldDovecot)),
        listMs: round(median(dovecotSessions.map((s) => s.listMs))),
      };
      result.ratio = { ofMedians: round(result.messagesPerSecond / result.dovecot.messagesPerSecond), perRound, medianOfRounds: median(perRound) };
      log(
        `pop3 bench, Dovecot ${dovecot.version}, the same sessions taking turns: ${result.dovecot.messagesPerSecond} msg/s (sessions ${result.dovecot.roundsPerSecond.join(', ')}; first ${result.dovecot.coldMessagesPerSecond}); ` +
          `service ÷ Dovecot ${result.ratio.ofMedians} (rounds ${perRound.join(', ')})`,
      );
    }
    return result;
  } finally {
    if (pin) setCpus(process.pid, allCpus);
    await dovecot?.stop();
    await service.kill('SIGTERM');
    await db.drop();
  }
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const options = { messages: arg('messages'), messageBytes: arg('size'), window: arg('window'), chunkBytes: arg('chunk'), rounds: arg('rounds') };
  process.stdout.write(JSON.stringify(await benchPop3(options)) + '\n');
  process.exit(0);
}
