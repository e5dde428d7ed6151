// One verification thread of the worker-pool Authenticator (adapters/auth-workers.ts): the
// mailauth Authenticator with its own dns-cache client, answering { id, input } with
// { id, results }. check() never throws, so every request gets its answer.
import { parentPort, workerData } from 'node:worker_threads';
import { createDnsClient } from '@hopmail/dns-client';
import { createMailAuthenticator } from './mail-authenticator.ts';
import type { AuthWorkerData } from './auth-workers.ts';

const data = workerData as AuthWorkerData;
const authenticator = createMailAuthenticator({ ...data.options, dns: createDnsClient(data.dns) });

parentPort!.on('message', (m: { id: number; raw: Uint8Array; mailFrom: string; helo: string | null; remoteIp: string }) => {
  const raw = Buffer.from(m.raw.buffer, m.raw.byteOffset, m.raw.byteLength);
  void authenticator.check({ raw, mailFrom: m.mailFrom, helo: m.helo, remoteIp: m.remoteIp }).then((results) => parentPort!.postMessage({ id: m.id, results }));
});
