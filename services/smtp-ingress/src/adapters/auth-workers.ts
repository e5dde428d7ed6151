// The Authenticator on a pool of worker threads (INBOUND_AUTH_WORKERS): DKIM's key parsing and
// signature checks, the message parsing and SPF/DMARC evaluation cost about a millisecond of
// CPU per message, which on the session thread would cap the whole listener; here they run
// beside it. Each request goes to the thread with the fewest in flight. A thread that dies
// answers its requests temperror (the client gets 451 and tries again) and is replaced; a
// thread that does not answer within the time limit (plus a margin) is treated the same.

import { Worker } from 'node:worker_threads';
import { withTimeout } from '@hopmail/service-kit';
import type { AuthResults } from '../policy/mail-auth-policy.ts';
import type { AuthCheckInput, Authenticator } from '../ports.ts';
import { temporaryResults, type MailAuthenticatorOptions } from './mail-authenticator.ts';

export interface AuthWorkerData {
  options: Omit<MailAuthenticatorOptions, 'dns'>;
  dns: { servers: string[]; timeoutMs: number; tries: number };
}

interface Slot {
  worker: Worker;
  pending: Map<number, { input: AuthCheckInput; resolve: (r: AuthResults) => void }>;
}

const WORKER_FILE = new URL(import.meta.url.endsWith('.js') ? './auth-worker.js' : './auth-worker.ts', import.meta.url);

export function createWorkerAuthenticator(
  data: AuthWorkerData & { workers: number; onWorkerError?: (err: unknown) => void },
): Authenticator & { close(): Promise<void>; /** the live threads (tests) */ threads(): Worker[] } {
  const { authservId, timeoutMs } = data.options;
  const init: AuthWorkerData = { options: data.options, dns: data.dns };
  let nextId = 0;
  let closed = false;
  const slots: Slot[] = [];

  const spawn = (i: number) => {
    const slot: Slot = { worker: new Worker(WORKER_FILE, { workerData: init }), pending: new Map() };
    slot.worker.on('message', (m: { id: number; results: AuthResults }) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      p.resolve(m.results);
    });
    const fail = (err: unknown) => {
      for (const p of slot.pending.values()) p.resolve(temporaryResults(p.input, authservId, 'verification failed'));
      slot.pending.clear();
      if (closed) return;
      data.onWorkerError?.(err);
      if (slots[i] === slot) spawn(i);
    };
    slot.worker.once('error', fail);
    slot.worker.once('exit', (code) => fail(new Error(`authentication worker exited with code ${code}`)));
    slots[i] = slot;
  };
  for (let i = 0; i < data.workers; i++) spawn(i);

  return {
    authservId,
    async check(input) {
      if (closed) return temporaryResults(input, authservId, 'shutting down');
      const slot = slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
      const id = nextId++;
      const answer = new Promise<AuthResults>((resolve) => {
        slot.pending.set(id, { input, resolve });
        // One copy, handed over (transferred): the caller keeps its bytes (they are committed after this).
        const raw = new Uint8Array(input.raw);
        slot.worker.postMessage({ id, raw, mailFrom: input.mailFrom, helo: input.helo, remoteIp: input.remoteIp }, [raw.buffer]);
      });
      try {
        return await withTimeout(answer, timeoutMs + 1000, 'authentication worker');
      } catch {
        slot.pending.delete(id);
        return temporaryResults(input, authservId, 'time limit');
      }
    },
    threads: () => slots.map((s) => s.worker),
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
