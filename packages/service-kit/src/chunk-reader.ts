import type { Socket } from 'node:net';

/**
 * Pulls chunks from a socket one at a time, pausing it while a chunk waits (back-pressure
 * on input), so that on STARTTLS/STLS the reader can be detached with nothing consumed
 * beyond the command's chunk: whatever else arrived stays in the socket's buffer, where the
 * handshake code drops it. The line-protocol listeners (pop3, imap) read through it.
 */
export class ChunkReader {
  private readonly socket: Socket;
  private readonly queue: Buffer[] = [];
  private ended = false;
  private waiter: (() => void) | null = null;
  private readonly take: ((chunk: Buffer) => boolean) | undefined;
  private readonly onData = (d: Buffer) => {
    // The consumer waits with nothing queued: `take` may answer the chunk right here.
    if (this.take && this.waiter && this.queue.length === 0 && this.take(d)) return;
    this.queue.push(d);
    this.socket.pause();
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };

  /**
   * `take`, when given, is offered each chunk that arrives while the consumer waits in next()
   * with nothing queued. It returns true when it handled the chunk itself, synchronously (then
   * next() goes on waiting and the socket keeps flowing), false to have next() return it.
   */
  constructor(socket: Socket, take?: (chunk: Buffer) => boolean) {
    this.socket = socket;
    this.take = take;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.resume();
  }

  private wake() {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The next chunk, or null once the peer has closed. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) return chunk;
      if (this.ended) return null;
      this.socket.resume();
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  /** Stops reading; queued chunks are dropped (they arrived before TLS). */
  detach(): number {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.pause();
    this.ended = true;
    this.wake();
    let n = 0;
    for (const b of this.queue.splice(0)) n += b.length;
    return n;
  }
}
