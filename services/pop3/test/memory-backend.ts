// In-memory Backend for transcript tests: same contract as the PostgreSQL adapter,
// deliberately tiny chunks so that every chunk-boundary path of RETR/TOP runs.
import type { AuthOutcome, Backend, DropMessage, Maildrop, OpenOutcome } from '../src/protocol/backend.ts';
import { Pop3Engine, type Action, type EngineOptions, type SessionEvent } from '../src/protocol/engine.ts';

export interface MemoryMessage {
  uidl: string;
  raw: Buffer;
}

export class MemoryBackend implements Backend {
  readonly users = new Map<string, { password: string; mailboxId: string }>();
  readonly boxes = new Map<string, MemoryMessage[]>();
  readonly locks = new Set<string>();
  chunkSize = 5;
  /** readNow() hands out whole messages (the read-ahead path); off, RETR/TOP stream in chunks. */
  inMemory = false;
  /** Test switches. */
  failAuth = false;
  failOpen = false;
  failReadAfterChunks: number | null = null;
  failCommit = false;
  authCalls = 0;

  addUser(address: string, password: string, messages: MemoryMessage[] = []): void {
    const id = String(this.users.size + 1);
    this.users.set(address.toLowerCase(), { password, mailboxId: id });
    this.boxes.set(id, messages);
  }

  async authenticate(user: string, password: Buffer): Promise<AuthOutcome> {
    this.authCalls++;
    if (this.failAuth) throw new Error('auth store down');
    const u = this.users.get(user.toLowerCase());
    if (!u || u.password !== password.toString('utf8')) return { ok: false, reason: 'invalid' };
    return { ok: true, mailboxId: u.mailboxId, address: user.toLowerCase() };
  }

  async openMaildrop(mailboxId: string): Promise<OpenOutcome> {
    if (this.failOpen) return { ok: false, reason: 'unavailable' };
    if (this.locks.has(mailboxId)) return { ok: false, reason: 'in-use' };
    this.locks.add(mailboxId);
    const box = this.boxes.get(mailboxId)!;
    const snapshot = [...box];
    const messages: DropMessage[] = snapshot.map((m) => ({ uidl: m.uidl, size: m.raw.length }));
    let released = false;
    // The object literal's generator methods below need the backend, not the literal.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const drop: Maildrop = {
      messages,
      async *read(index) {
        const raw = snapshot[index]!.raw;
        let n = 0;
        for (let off = 0; off < raw.length; off += self.chunkSize) {
          if (self.failReadAfterChunks !== null && n++ >= self.failReadAfterChunks) throw new Error('read failed');
          yield raw.subarray(off, off + self.chunkSize);
        }
      },
      readNow(index) {
        if (!self.inMemory || released) return undefined;
        return snapshot[index]!.raw;
      },
      peek(index) {
        return drop.readNow(index);
      },
      async commit(indexes) {
        if (self.failCommit) throw new Error('commit failed');
        const gone = new Set(indexes.map((i) => snapshot[i]));
        self.boxes.set(mailboxId, self.boxes.get(mailboxId)!.filter((m) => !gone.has(m)));
      },
      async release() {
        if (!released) self.locks.delete(mailboxId);
        released = true;
      },
    };
    return { ok: true, drop };
  }
}

export const TEST_OPTIONS: EngineOptions = {
  allowPlaintextAuth: true,
  stls: false,
  maxCommandOctets: 255,
  maxAuthLineOctets: 1024,
  maxAuthFailures: 3,
  maxBadCommands: 5,
  authFailureDelayMs: 100,
  implementation: 'Hopmail',
};

export interface Transcript {
  output: string;
  outputBytes: Buffer;
  events: SessionEvent[];
  delays: number[];
  closed: boolean;
  /** Output offsets (in octets) at which a TLS handshake took place. */
  tlsAt: number[];
  /** Packets answered by answerNow() (with `listener`). */
  answeredNow: number;
}

/** Replays client packets through a fresh engine; returns every byte the server wrote. */
/**
 * Each packet after the first STLS is taken to arrive after the handshake (a simulated one:
 * the engine's tlsStarted() is called right away). `secure` starts the session in TLS (port 995).
 * `listener` feeds packets as the socket listener does: answerNow() first, receive() when it
 * declines, and prepareNext() after each packet.
 */
export async function replay(backend: Backend, packets: (string | Buffer)[], options: Partial<EngineOptions> = {}, opts: { secure?: boolean; listener?: boolean } = {}): Promise<Transcript> {
  const engine = new Pop3Engine(backend, { ...TEST_OPTIONS, ...options }, '192.0.2.1', opts);
  const out: Buffer[] = [];
  const events: SessionEvent[] = [];
  const delays: number[] = [];
  const tlsAt: number[] = [];
  let closed = false;
  const perform = (a: Action) => {
    if (a.type === 'write') out.push(a.data);
    else if (a.type === 'event') events.push(a.detail);
    else if (a.type === 'delay') delays.push(a.ms);
    else if (a.type === 'starttls') {
      tlsAt.push(Buffer.concat(out).length);
      engine.tlsStarted();
    } else closed = true;
  };
  engine.greeting().forEach(perform);
  let answeredNow = 0;
  for (const p of packets) {
    if (closed) break;
    const chunk = typeof p === 'string' ? Buffer.from(p, 'latin1') : p;
    const now = opts.listener ? engine.answerNow(chunk) : null;
    if (now) {
      out.push(now);
      answeredNow++;
    } else for await (const a of engine.receive(chunk)) perform(a);
    if (opts.listener) engine.prepareNext();
  }
  await engine.dispose();
  const outputBytes = Buffer.concat(out);
  return { output: outputBytes.toString('latin1'), outputBytes, events, delays, closed, tlsAt, answeredNow };
}
