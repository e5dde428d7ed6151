// A lean SMTP load generator: raw sockets, EHLO once, MAIL/RCPT/DATA pipelined (RFC 2920),
// or MAIL/RCPT/BDAT LAST with the message (RFC 3030), so that the generator costs far less
// CPU than the server it measures.
import { connect, type Socket } from 'node:net';

class ReplyReader {
  private buf = '';
  private waiters: { n: number; resolve: (lines: string[]) => void; reject: (e: Error) => void }[] = [];
  private replies: string[] = [];
  constructor(socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\r\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        if (line[3] === '-') continue; // multi-line reply continuation
        this.replies.push(line);
      }
      this.flush();
    });
    socket.on('close', () => {
      for (const w of this.waiters) w.reject(new Error('connection closed'));
      this.waiters = [];
    });
  }
  private flush() {
    while (this.waiters.length && this.replies.length >= this.waiters[0]!.n) {
      const w = this.waiters.shift()!;
      w.resolve(this.replies.splice(0, w.n));
    }
  }
  next(n: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ n, resolve, reject });
      this.flush();
    });
  }
}

export interface LoadResult {
  sent: number;
  failed: number;
  seconds: number;
  /** Client-side time of each 250 after DATA, by sequence number. */
  acceptedAt: Float64Array;
  /** Milliseconds from connect() to the 220 greeting, one per connection opened. */
  bannerMs: number[];
  /** Per accepted message: from the last octet of the message written to the 250 read (the ingress's DATA step and commit, nothing of the connection's setup). */
  endOfDataMs: number[];
}

/** Sends `count` messages of about `size` bytes over `connections` sockets (or fewer: as many as fit in `durationMs`). */
export async function smtpLoad(options: {
  port: number;
  host?: string;
  connections: number;
  count: number;
  size: number;
  rcpt: string;
  from?: string;
  delayMs?: number;
  durationMs?: number;
  /** One new connection per message (EHLO, one transaction, QUIT), as MX traffic arrives; default: each connection sends many. */
  newConnectionPerMessage?: boolean;
  /** The DATA payload (terminator included) of message `seq`, instead of the generated one. */
  message?: (seq: number) => string;
  /** Send each message as one `BDAT <n> LAST` chunk (RFC 3030) pipelined with MAIL and RCPT, instead of DATA. */
  bdat?: boolean;
}): Promise<LoadResult> {
  const { port, connections, count, size, rcpt } = options;
  const host = options.host ?? '127.0.0.1';
  const from = options.from ?? 'bench@load.test';
  const filler = ('Lorem ipsum dolor sit amet, consectetur adipiscing elit. 0123456789 ABCDEFGHIJKLMN\r\n').repeat(Math.ceil(size / 84));
  const header = (seq: number) => `From: <${from}>\r\nTo: <${rcpt}>\r\nSubject: bench ${seq}\r\nX-Seq: ${seq}\r\nMessage-ID: <bench-${seq}-${Date.now()}@load.test>\r\n\r\n`;
  // The body and terminator are the same octets every time: built once, written as they are
  // (a generator that builds and encodes 100 KiB per message takes CPU the server needs).
  const tail = Buffer.from(`${filler.slice(0, Math.max(0, size - 150))}\r\n.\r\n`, 'latin1');
  const writeMessage = (socket: Socket, seq: number) => {
    socket.cork();
    socket.write(header(seq), 'latin1');
    socket.write(tail);
    socket.uncork();
  };
  const acceptedAt = new Float64Array(count);
  let nextSeq = 0;
  let failed = 0;
  const t0 = performance.now();
  const deadline = options.durationMs ? t0 + options.durationMs : Infinity;
  const bannerMs: number[] = [];
  const endOfDataMs: number[] = [];

  async function worker() {
    do {
      const opened = performance.now();
      const socket = connect(port, host);
      socket.setNoDelay(true);
      const reader = new ReplyReader(socket);
      await new Promise<void>((res, rej) => socket.once('connect', () => res()).once('error', rej));
      await reader.next(1); // greeting
      bannerMs.push(performance.now() - opened);
      socket.write('EHLO load.test\r\n');
      await reader.next(1);
      await transactions(socket, reader, options.newConnectionPerMessage ? 1 : Infinity);
      socket.write('QUIT\r\n');
      await reader.next(1).catch(() => {});
      socket.destroy();
    } while (options.newConnectionPerMessage && nextSeq < count && performance.now() < deadline);
  }

  async function transactions(socket: Socket, reader: ReplyReader, most: number) {
    for (let n = 0; n < most && nextSeq < count && performance.now() < deadline; n++) {
      const seq = nextSeq++;
      if (options.bdat) {
        // The same octets DATA would carry, without the terminator (nothing to stuff here).
        const head = Buffer.from(header(seq), 'latin1');
        const body = tail.subarray(0, -3);
        socket.cork();
        socket.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${rcpt}>\r\nBDAT ${head.length + body.length} LAST\r\n`, 'latin1');
        socket.write(head);
        socket.write(body);
        socket.uncork();
        const sentAt = performance.now();
        const r = await reader.next(3);
        if (r[2]!.startsWith('250')) {
          acceptedAt[seq] = performance.now();
          endOfDataMs.push(acceptedAt[seq]! - sentAt);
        }
        else failed++;
        continue;
      }
      socket.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
      const r = await reader.next(3);
      if (!r[2]!.startsWith('354')) {
        failed++;
        socket.write('RSET\r\n');
        await reader.next(1);
        continue;
      }
      if (options.message) socket.write(options.message(seq));
      else writeMessage(socket, seq);
      const sentAt = performance.now();
      const [done] = await reader.next(1);
      if (done!.startsWith('250')) {
        acceptedAt[seq] = performance.now();
        endOfDataMs.push(acceptedAt[seq]! - sentAt);
      }
      else failed++;
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    }
  }
  await Promise.all(Array.from({ length: connections }, worker));
  return { sent: nextSeq - failed, failed, seconds: (performance.now() - t0) / 1000, acceptedAt, bannerMs, endOfDataMs };
}

/**
 * The server's own greeting latency: `count` connections one after another, each timed from
 * connect() to the 220 line, then QUIT. One at a time, so the figure is the server's path to
 * its banner, not the queueing of a machine the load keeps busy.
 */
export async function bannerLatency(options: { port: number; host?: string; count: number }): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < options.count; i++) {
    const opened = performance.now();
    const socket = connect(options.port, options.host ?? '127.0.0.1');
    socket.setNoDelay(true);
    const reader = new ReplyReader(socket);
    const [greeting] = await reader.next(1);
    times.push(performance.now() - opened);
    if (!greeting!.startsWith('220')) throw new Error(`no greeting: ${greeting}`);
    socket.write('QUIT\r\n');
    await reader.next(1).catch(() => {});
    socket.destroy();
  }
  return times;
}
