// IMAP benchmark cells (issue #15), each against the imap service running as its own process:
//   imap-fetch          one UID FETCH 1:* BODY[] of 2,000 × 4 KiB messages, in messages/s, and
//                       the same sessions against Debian's dovecot-imapd on the same messages,
//                       taking turns;
//   imap-search         SEARCH of a header over a 100,000-message mailbox, in ms;
//   imap-idle           IDLE sessions held per 100 MiB of the imap process's memory, then held
//                       while mail comes and goes (a delivery and an expunge a second, so the
//                       mailbox keeps its size; every session woken), memory sampled over
//                       time: flat means no growth per session or per wake-up.
// Run alone: `pnpm exec node bench/imap.ts [fetch|search|idle]…`.
import { connect, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createTestDatabase, redisPrefix, startServiceProcess, type ServiceProcess, type TestDatabase } from '@hopmail/test-kit';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { message } from './pop3.ts';
import { procCpuMs, procStatusKiB } from './proc.ts';
import { startDovecot, takeTurns } from './dovecot.ts';
import { median } from './stats.ts';

const PASSWORD = 'bench password';
// Argon2id of PASSWORD at m=1 MiB, t=1: the IDLE cell logs in 10,000 times and measures the
// sessions, not the password hash (production hashes at the library's defaults).
const CHEAP_HASH = '$argon2id$v=19$m=1024,t=1,p=1$AZZgvEYdhseHR3vUI3n1LA$+gEe2PxGTBpR6RAEJ3DojPY/67/JThggbT/x6lySuf8';

const round = (x: number) => Math.round(x * 100) / 100;
const log = (l: string) => process.stderr.write(l + '\n');

/** A streaming IMAP client for measuring the server: literals are counted, never kept. */
class Stream {
  private buf: Buffer = Buffer.alloc(0);
  private literal = 0;
  private waiting: { tag: string; resolve: (r: { tagged: string; fetches: number; literalBytes: number }) => void; reject: (e: Error) => void } | null = null;
  private fetches = 0;
  private literalBytes = 0;
  private lines: string[] = [];
  /** Untagged EXPUNGE lines seen (IDLE wake-ups: each expunge is reported on its own). */
  expunges = 0;
  readonly socket: Socket;
  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => this.waiting?.reject(new Error('connection closed')));
  }

  static async connect(port: number): Promise<Stream> {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    const c = new Stream(s);
    await c.until('*');
    return c;
  }

  /** Sends `tag command` and waits for the tagged reply (`*` waits for the greeting, `+` for a continuation). */
  cmd(tag: string, command: string) {
    const p = this.until(tag);
    this.socket.write(`${tag} ${command}\r\n`);
    return p;
  }

  until(tag: string) {
    this.fetches = 0;
    this.literalBytes = 0;
    return new Promise<{ tagged: string; fetches: number; literalBytes: number }>((resolve, reject) => {
      this.waiting = { tag, resolve, reject };
      this.onData(Buffer.alloc(0));
    });
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let i = 0;
    while (i < this.buf.length) {
      if (this.literal > 0) {
        const n = Math.min(this.literal, this.buf.length - i);
        this.literal -= n;
        this.literalBytes += n;
        i += n;
        continue;
      }
      const j = this.buf.indexOf(0x0a, i);
      if (j < 0) break;
      const line = this.buf.toString('latin1', i, j + 1);
      i = j + 1;
      const lit = /\{(\d+)\}\r\n$/.exec(line);
      if (lit) this.literal = Number(lit[1]);
      if (/^\* \d+ FETCH /.test(line)) this.fetches++;
      else if (/^\* \d+ EXPUNGE\r\n$/.test(line)) this.expunges++;
      this.lines.push(line);
      const w = this.waiting;
      if (w && !lit && (line.startsWith(`${w.tag} `) || (w.tag === '+' && line.startsWith('+')))) {
        this.waiting = null;
        w.resolve({ tagged: line.trimEnd(), fetches: this.fetches, literalBytes: this.literalBytes });
      }
      if (this.lines.length > 16) this.lines.splice(0, 8);
    }
    this.buf = this.buf.subarray(i);
  }

  close(): void {
    this.socket.destroy();
  }
}

function ok(r: { tagged: string }, what: string): void {
  if (!/^\S+ OK/.test(r.tagged) && !r.tagged.startsWith('+')) throw new Error(`${what}: ${r.tagged}`);
}

async function startImap(db: TestDatabase, extra: Record<string, string> = {}): Promise<{ service: ServiceProcess; port: number }> {
  const service = startServiceProcess(
    'imap',
    {
      DATABASE_URL: db.url,
      REDIS_URL: process.env.REDIS_URL!,
      REDIS_PREFIX: redisPrefix(),
      IMAP_HOST: '127.0.0.1',
      IMAP_PORT: '0',
      IMAPS_PORT: '0',
      HEALTH_PORT: '0',
      // The bench measures IMAP, not TLS; loopback only.
      ALLOW_PLAINTEXT_AUTH: 'true',
      NODE_ENV: 'test',
      ...extra,
    },
    { keepLogs: false },
  );
  await service.ready;
  const port = (service.logs.find((l) => l.event === 'imap.listening' && l.listener === 'imap') as { port: number } | undefined)?.port;
  if (!port) throw new Error('imap did not say where it listens');
  return { service, port };
}

async function seedMailbox(db: TestDatabase, local: string): Promise<{ id: string; address: string }> {
  await db.pool.query("INSERT INTO domains (name) VALUES ('bench.example') ON CONFLICT DO NOTHING");
  const r = await db.pool.query<{ id: string }>(
    "INSERT INTO mailboxes (domain_id, local_part, address, password_hash) SELECT id, $1, $1 || '@bench.example', $2 FROM domains WHERE name = 'bench.example' RETURNING id::text AS id",
    [local, CHEAP_HASH],
  );
  return { id: r.rows[0]!.id, address: `${local}@bench.example` };
}

/** Files `count` messages of `size` octets in the mailbox's INBOX, as routing does (the index trigger included). */
async function fill(db: TestDatabase, mailboxId: string, address: string, count: number, size: number): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, async (_, j) => {
        const id = newMessageId();
        ids[i + j] = id;
        await insertMessage(db.pool, { id, raw: message(i + j, size), mailFrom: 'bench@example.net', recipients: [address] });
      }),
    );
  }
  await db.pool.query(
    `INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size)
     SELECT $1, u.id, u.id::text, m.size FROM unnest($2::uuid[]) WITH ORDINALITY AS u(id, ord) JOIN messages m ON m.id = u.id ORDER BY u.ord`,
    [mailboxId, ids],
  );
}

/**
 * Waits until the service has indexed the new messages for SEARCH, then has PostgreSQL take
 * the statistics autovacuum would: a mailbox in use, as Dovecot's cell builds its index first.
 * Without it the FETCH would race the indexer that the fill just started.
 */
async function settle(db: TestDatabase): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await db.pool.query('SELECT 1 FROM message_search_pending LIMIT 1')).rowCount) {
    if (Date.now() > deadline) throw new Error('SEARCH indexing did not finish within 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  await db.pool.query('VACUUM (ANALYZE) mailbox_messages, messages');
}

export interface FetchResult {
  name: string;
  messages: number;
  messageBytes: number;
  seconds: number;
  messagesPerSecond: number;
  mibPerSecond: number;
  serviceCpuMs?: number;
  peakRssMiB?: number;
}

/** What one measured FETCH of `count` messages of `size` octets in `seconds` comes to. */
function fetchRate(name: string, count: number, size: number, seconds: number): FetchResult {
  return { name, messages: count, messageBytes: size, seconds: round(seconds), messagesPerSecond: round(count / seconds), mibPerSecond: round((count * size) / 1048576 / seconds) };
}

/**
 * LOGIN, SELECT INBOX, every \\Seen cleared (so each session's BODY[] sets it on every message, as
 * the first one did), a warm-up UID FETCH 1 BODY.PEEK[], then the measured UID FETCH 1:* BODY[].
 */
async function fetchAll(port: number, user: string, password: string, count: number, size: number, onReady?: () => void): Promise<{ seconds: number }> {
  const c = await Stream.connect(port);
  ok(await c.cmd('a1', `LOGIN ${user} "${password}"`), 'LOGIN');
  ok(await c.cmd('a2', 'SELECT INBOX'), 'SELECT');
  ok(await c.cmd('a3', 'UID STORE 1:* -FLAGS.SILENT (\\Seen)'), 'STORE');
  ok(await c.cmd('a4', 'UID FETCH 1 BODY.PEEK[]'), 'warm-up FETCH');
  onReady?.();
  const t0 = performance.now();
  const r = await c.cmd('a5', 'UID FETCH 1:* BODY[]');
  const seconds = (performance.now() - t0) / 1000;
  ok(r, 'FETCH');
  if (r.fetches !== count || r.literalBytes !== count * size) throw new Error(`FETCH returned ${r.fetches} messages, ${r.literalBytes} octets; expected ${count} × ${size}`);
  await c.cmd('a6', 'LOGOUT');
  c.close();
  return { seconds };
}

export interface FetchCellResult extends FetchResult {
  rounds: number;
  /** Each measured session, in order. */
  roundsPerSecond: number[];
  /** Median service CPU time of a measured FETCH. */
  serviceCpuMs: number;
  peakRssMiB: number;
  /** The first session, on a service that had served none. */
  coldMessagesPerSecond: number;
  /** The same sessions against Dovecot, taking turns with the service's; absent when not installed. */
  dovecot?: { version: string; messagesPerSecond: number; roundsPerSecond: number[]; coldMessagesPerSecond: number };
  /** Service ÷ Dovecot: of the medians, each round's, and the median of those. */
  ratio?: { ofMedians: number; perRound: number[]; medianOfRounds: number };
}

/**
 * The FETCH cell: the service and, when installed, Debian's dovecot-imapd on a Maildir of the
 * same messages, with the same client. One 2,000-message FETCH takes a tenth of a second, and on
 * a shared 2-core machine one such session moves by half from run to run: after a first session
 * each (Dovecot builds its index, the service compiles its hot path), the two take turns for
 * `rounds` sessions each (BENCH_IMAP_FETCH_ROUNDS, default 5), the order swapped every round,
 * and the medians and per-round ratios are reported.
 */
export async function benchImapFetch(opts: { messages?: number; messageBytes?: number; rounds?: number } = {}): Promise<FetchCellResult> {
  const count = opts.messages ?? 2_000;
  const size = opts.messageBytes ?? 4_096;
  const rounds = Math.max(1, opts.rounds ?? Number(process.env.BENCH_IMAP_FETCH_ROUNDS ?? 5));
  const db = await createTestDatabase();
  const { service, port } = await startImap(db);
  let dovecot: Awaited<ReturnType<typeof startDovecot>> = null;
  try {
    const box = await seedMailbox(db, 'reader');
    log(`imap-fetch: filing ${count} messages of ${size} octets`);
    await fill(db, box.id, box.address, count, size);
    await settle(db);
    dovecot = await startDovecot('imap', Array.from({ length: count }, (_, i) => message(i, size)));
    if (!dovecot) log('imap-fetch: Dovecot is not installed (apt-get install dovecot-imapd); the service alone');
    const pid = service.child.pid!;
    const ours = async () => {
      let cpu0 = 0;
      const r = await fetchAll(port, box.address, PASSWORD, count, size, () => (cpu0 = procCpuMs(pid)));
      return { ...r, cpuMs: procCpuMs(pid) - cpu0 };
    };
    const at = dovecot?.port;
    const turns = await takeTurns(rounds, ours, at ? () => fetchAll(at, 'reader', 'bench', count, size) : null);
    const { cold, coldTheirs: coldDovecot, ours: sessions, theirs: dovecotSessions } = turns;
    const rate = (r: { seconds: number }) => count / r.seconds;
    const rates = sessions.map(rate);
    const mps = median(rates);
    const r: FetchCellResult = {
      ...fetchRate('imap-fetch', count, size, count / mps),
      rounds,
      roundsPerSecond: rates.map(round),
      serviceCpuMs: median(sessions.map((s) => s.cpuMs)),
      peakRssMiB: round(procStatusKiB(pid, 'VmHWM') / 1024),
      coldMessagesPerSecond: round(rate(cold)),
    };
    log(`imap-fetch: ${r.messagesPerSecond} msg/s (sessions ${r.roundsPerSecond.join(', ')}; first ${r.coldMessagesPerSecond}), ${r.mibPerSecond} MiB/s, service CPU ${r.serviceCpuMs} ms, peak RSS ${r.peakRssMiB} MiB`);
    if (dovecot && coldDovecot) {
      const theirRates = dovecotSessions.map(rate);
      const perRound = rates.map((x, i) => round(x / theirRates[i]!));
      r.dovecot = { version: dovecot.version, messagesPerSecond: round(median(theirRates)), roundsPerSecond: theirRates.map(round), coldMessagesPerSecond: round(rate(coldDovecot)) };
      r.ratio = { ofMedians: round(r.messagesPerSecond / r.dovecot.messagesPerSecond), perRound, medianOfRounds: median(perRound) };
      log(
        `imap-fetch, Dovecot ${dovecot.version}, the same sessions taking turns: ${r.dovecot.messagesPerSecond} msg/s (sessions ${r.dovecot.roundsPerSecond.join(', ')}; first ${r.dovecot.coldMessagesPerSecond}); ` +
          `service ÷ Dovecot ${r.ratio.ofMedians} (rounds ${perRound.join(', ')})`,
      );
    }
    return r;
  } finally {
    await dovecot?.stop();
    await service.kill('SIGTERM');
    await db.drop();
  }
}

export interface SearchResult {
  name: 'imap-search';
  messages: number;
  fillSeconds: number;
  /** The first search, right after the fill, while the background indexer is still at work (the rest read from the stored bytes). */
  firstMs: number;
  /** Seconds from the fill until the background indexer had indexed every message. */
  indexedSeconds: number;
  /** Median of the searches after that, and a search every message matches. */
  medianMs: number;
  matchAllMs: number;
}

/**
 * UID SEARCH HEADER Subject over a mailbox of `messages` (default 100,000) messages of about
 * 2.5 KiB, filed in batches through the same trigger as deliveries: the first search right
 * after the fill (nothing indexed yet), how long the background indexer took to index them all,
 * then the median of 7 searches for different single messages and a search every message matches.
 */
export async function benchImapSearch(opts: { messages?: number } = {}): Promise<SearchResult> {
  const count = opts.messages ?? 100_000;
  const db = await createTestDatabase();
  const { service, port } = await startImap(db);
  try {
    const box = await seedMailbox(db, 'searcher');
    log(`imap-search: filing ${count} messages`);
    const t0 = performance.now();
    await db.pool.query(
      `INSERT INTO messages (id, raw, size, mail_from)
       SELECT gen_random_uuid(), r, octet_length(r), 'bench@example.net' FROM (
         SELECT convert_to(format(E'From: "Sender %s" <sender%s@example.net>\\r\\nTo: searcher@bench.example\\r\\nSubject: bench message %s about %s\\r\\nDate: Sun, 06 Dec 2026 05:00:00 +0000\\r\\nMessage-ID: <%s@bench.example>\\r\\n\\r\\n', i, i % 997, i, md5(i::text), i)
                || repeat(format(E'line of message %s with some words %s\\r\\n', i, md5((i * 7)::text)), 40), 'UTF8') AS r
           FROM generate_series(1, $1::int) i) g`,
      [count],
    );
    for (;;) {
      const r = await db.pool.query(
        `INSERT INTO mailbox_messages (mailbox_id, message_id, uidl, size)
         SELECT $1, m.id, m.id::text, m.size FROM messages m WHERE NOT EXISTS (SELECT 1 FROM mailbox_messages x WHERE x.message_id = m.id) ORDER BY m.id LIMIT 5000`,
        [box.id],
      );
      if (!r.rowCount) break;
    }
    await db.pool.query('ANALYZE');
    const fillSeconds = (performance.now() - t0) / 1000;
    const c = await Stream.connect(port);
    ok(await c.cmd('a1', `LOGIN ${box.address} "${PASSWORD}"`), 'LOGIN');
    ok(await c.cmd('a2', 'SELECT INBOX'), 'SELECT');
    const searchOnce = async (tag: string, n: number) => {
      const s = performance.now();
      ok(await c.cmd(tag, `UID SEARCH HEADER Subject "bench message ${n} about"`), 'SEARCH');
      return performance.now() - s;
    };
    // Right after the fill nothing is indexed yet: the search reads the stored bytes (migration 0029).
    const firstMs = await searchOnce('s0', 1);
    const idx0 = performance.now();
    while ((await db.pool.query('SELECT 1 FROM message_search_pending LIMIT 1')).rowCount) await new Promise((r) => setTimeout(r, 250));
    const indexedSeconds = (performance.now() - idx0) / 1000 + firstMs / 1000;
    const times: number[] = [];
    for (let k = 1; k < 8; k++) {
      times.push(await searchOnce(`s${k}`, 1 + Math.floor(((k * 7919) % count) * 0.999)));
    }
    const s = performance.now();
    ok(await c.cmd('all', 'UID SEARCH HEADER Subject "bench message"'), 'SEARCH');
    const matchAllMs = performance.now() - s;
    c.close();
    const warm = times.sort((a, b) => a - b);
    const r: SearchResult = { name: 'imap-search', messages: count, fillSeconds: round(fillSeconds), firstMs: round(firstMs), indexedSeconds: round(indexedSeconds), medianMs: round(warm[Math.floor(warm.length / 2)]!), matchAllMs: round(matchAllMs) };
    log(`imap-search: ${count} messages (filed in ${r.fillSeconds} s): first ${r.firstMs} ms (nothing indexed yet), all indexed ${r.indexedSeconds} s after the fill; then median ${r.medianMs} ms, a search all match ${r.matchAllMs} ms`);
    return r;
  } finally {
    await service.kill('SIGTERM');
    await db.drop();
  }
}

export interface IdleResult {
  name: 'imap-idle';
  sessions: number;
  rssBeforeMiB: number;
  /** RSS at each quarter of the sessions opened. */
  rssQuartersMiB: number[];
  kibPerSession: number;
  sessionsPer100MiB: number;
  /** Seconds all sessions were held idling afterwards, with a delivery and an expunge a second. */
  holdSeconds: number;
  /** Deliveries (and as many expunges) during the hold. */
  deliveries: number;
  /** Sessions that were told of every expunge (within 30 s of the last). */
  sessionsUpToDate: number;
  /** During the hold: mean RSS of each third, and the lowest V8 heap used (after GC) of each third. */
  holdRssThirdsMiB: number[];
  holdHeapThirdsMiB: number[];
}

/** `sessions` (default 10,000) clients LOGIN, SELECT INBOX (50 messages) and IDLE on one imap process. */
export async function benchImapIdle(opts: { sessions?: number } = {}): Promise<IdleResult> {
  const n = opts.sessions ?? Number(process.env.BENCH_IMAP_IDLE_SESSIONS ?? 10_000);
  const db = await createTestDatabase();
  const { service, port } = await startImap(db, { MAX_CONNECTIONS: String(n + 100), MAX_CONNECTIONS_PER_IP: String(n + 100) });
  const clients: Stream[] = [];
  try {
    const box = await seedMailbox(db, 'idler');
    await fill(db, box.id, box.address, 50, 4_096);
    const pid = service.child.pid!;
    // A few sessions first, so the pools and code paths exist before the baseline.
    const open = async () => {
      const c = await Stream.connect(port);
      ok(await c.cmd('a1', `LOGIN ${box.address} "${PASSWORD}"`), 'LOGIN');
      ok(await c.cmd('a2', 'SELECT INBOX'), 'SELECT');
      const idling = c.until('+');
      c.socket.write('a3 IDLE\r\n');
      ok(await idling, 'IDLE');
      return c;
    };
    for (let i = 0; i < 10; i++) clients.push(await open());
    const rssBefore = procStatusKiB(pid, 'VmRSS') / 1024;
    const quarters: number[] = [];
    for (let i = clients.length; i < n; ) {
      const batch = Math.min(100, n - i);
      clients.push(...(await Promise.all(Array.from({ length: batch }, open))));
      i += batch;
      if (i % Math.ceil(n / 4) < batch || i === n) quarters.push(round(procStatusKiB(pid, 'VmRSS') / 1024));
    }
    const rssAfter = procStatusKiB(pid, 'VmRSS') / 1024;
    const kib = ((rssAfter - rssBefore) * 1024) / (n - 10);

    // Held while mail comes and goes: each second one message is delivered to the mailbox
    // every session idles on (routing's insert) and its oldest one expunged (as a POP3 DELE
    // does), so the mailbox keeps its size; the table's triggers notify the imap process,
    // which tells each session (EXISTS, EXPUNGE). Memory sampled every second.
    const holdSeconds = Number(process.env.BENCH_IMAP_IDLE_HOLD_SECONDS ?? 30);
    const healthPort = (service.logs.find((l) => l.event === 'start.done') as { healthPort?: number } | undefined)?.healthPort;
    const heapMiB = async () => {
      if (!healthPort) return NaN;
      const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      return Number(/^hopmail_nodejs_heap_size_used_bytes\{[^}]*\} (\d+)/m.exec(text)?.[1]) / 1048576;
    };
    const samples: { rss: number; heap: number }[] = [];
    let deliveries = 0;
    for (let t = 0; t < holdSeconds; t++) {
      const tick = new Promise((res) => setTimeout(res, 1000));
      await fill(db, box.id, box.address, 1, 4_096);
      await db.pool.query('DELETE FROM mailbox_messages WHERE id = (SELECT min(id) FROM mailbox_messages WHERE mailbox_id = $1)', [box.id]);
      deliveries++;
      samples.push({ rss: procStatusKiB(pid, 'VmRSS') / 1024, heap: await heapMiB().catch(() => NaN) });
      await tick;
    }
    const upToDate = () => clients.filter((c) => c.expunges === deliveries).length;
    const deadline = Date.now() + 30_000;
    while (upToDate() < clients.length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    const sessionsUpToDate = upToDate();
    const thirds = [0, 1, 2].map((k) => samples.slice(Math.floor((k * samples.length) / 3), Math.floor(((k + 1) * samples.length) / 3)));
    const holdRssThirdsMiB = thirds.map((a) => (a.length ? round(a.reduce((x, y) => x + y.rss, 0) / a.length) : NaN));
    const holdHeapThirdsMiB = thirds.map((a) => (a.length ? round(Math.min(...a.map((x) => x.heap))) : NaN));

    const r: IdleResult = {
      name: 'imap-idle',
      sessions: n,
      rssBeforeMiB: round(rssBefore),
      rssQuartersMiB: quarters,
      kibPerSession: round(kib),
      sessionsPer100MiB: Math.round((100 * 1024) / kib),
      holdSeconds,
      deliveries,
      sessionsUpToDate,
      holdRssThirdsMiB,
      holdHeapThirdsMiB,
    };
    log(`imap-idle: ${n} sessions idling, RSS ${r.rssBeforeMiB} MiB before, ${quarters.join(' / ')} MiB at each quarter: ${r.kibPerSession} KiB per session, ${r.sessionsPer100MiB} sessions per 100 MiB`);
    log(`imap-idle: held ${holdSeconds} s with ${deliveries} deliveries and expunges (${sessionsUpToDate} of ${clients.length} sessions told of every one): RSS by thirds ${holdRssThirdsMiB.join(' / ')} MiB, V8 heap after GC by thirds ${holdHeapThirdsMiB.join(' / ')} MiB`);
    return r;
  } finally {
    for (const c of clients) c.close();
    await service.kill('SIGTERM');
    await db.drop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.env.DATABASE_URL ??= 'postgres://root@127.0.0.1:5432/test';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
  const want = process.argv.slice(2);
  const all = want.length === 0;
  if (all || want.includes('fetch')) process.stdout.write(JSON.stringify(await benchImapFetch()) + '\n');
  if (all || want.includes('search')) process.stdout.write(JSON.stringify(await benchImapSearch()) + '\n');
  if (all || want.includes('idle')) process.stdout.write(JSON.stringify(await benchImapIdle()) + '\n');
  process.exit(0);
}
