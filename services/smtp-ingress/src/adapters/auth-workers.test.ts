// The worker-pool Authenticator: requests answered by the threads, a dead thread's requests
// answered temperror and the thread replaced, nothing after close().
import { afterEach, expect, it } from 'vitest';
import { createWorkerAuthenticator } from './auth-workers.ts';

const input = { raw: Buffer.from('From: <a@b.test>\r\nSubject: x\r\n\r\nbody\r\n'), mailFrom: 'a@b.test', helo: 'client.test', remoteIp: '192.0.2.1' };
let pool: ReturnType<typeof createWorkerAuthenticator> | undefined;
afterEach(async () => {
  await pool?.close();
});

const make = (errors: unknown[] = []) =>
  (pool = createWorkerAuthenticator({
    // Nothing listens on port 1: every look-up fails at once (temporary).
    options: { authservId: 'mx.test', timeoutMs: 3000, maxSignatures: 10, minRsaBits: 1024 },
    dns: { servers: ['127.0.0.1:1'], timeoutMs: 500, tries: 1 },
    workers: 2,
    onWorkerError: (err) => errors.push(err),
  }));

it('the threads check the message and answer (DNS refused: SPF temperror)', async () => {
  const p = make();
  const rs = await Promise.all([p.check(input), p.check(input), p.check(input)]);
  for (const r of rs) {
    expect(r.authservId).toBe('mx.test');
    expect(r.spf).toMatchObject({ result: 'temperror', domain: 'b.test' });
    expect(r.header).toMatch(/^mx\.test;\r\n /);
  }
}, 20_000);

it('a thread that dies: its requests are temperror, it is replaced, later requests are answered', async () => {
  const errors: unknown[] = [];
  const p = make(errors);
  await p.check(input);
  const dead = p.threads()[0]!;
  await dead.terminate();
  await new Promise((r) => setTimeout(r, 100));
  expect(errors).toHaveLength(1);
  expect(p.threads()).toHaveLength(2);
  expect(p.threads()).not.toContain(dead);
  expect((await Promise.all([p.check(input), p.check(input)])).map((r) => r.spf.result)).toEqual(['temperror', 'temperror']);
}, 20_000);

it('after close() every check is temperror, at once', async () => {
  const p = make();
  await p.close();
  expect((await p.check(input)).spf).toMatchObject({ result: 'temperror', reason: 'shutting down' });
});
