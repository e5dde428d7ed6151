// The rspamd trainer on the wire: an https: controller URL (rspamd behind a TLS proxy) is
// posted to over TLS, verified against the configured CA; the stored message is what is sent.
import { createServer } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertMessage } from '@hopmail/db';
import { newMessageId } from '@hopmail/mail';
import { createSelfSignedCertificate } from '@hopmail/tls';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { rspamdTrainer } from './spam-trainer.ts';

let db: TestDatabase;
const id = newMessageId();
const raw = 'Subject: learn me\r\n\r\nbuy now\r\n';
const ca = createSelfSignedCertificate({ names: ['Hopmail Test CA'], ca: true, days: 2 });
const leaf = createSelfSignedCertificate({ names: ['127.0.0.1'], issuer: ca });
const got: { path: string; body: string }[] = [];
const server = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    got.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ success: true }));
  });
});
let url = '';

beforeAll(async () => {
  db = await createTestDatabase();
  await insertMessage(db.pool, { id, raw: Buffer.from(raw), mailFrom: 'a@x.test', recipients: ['b@y.test'] });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await db?.drop();
});

describe('rspamd trainer over https', () => {
  it('learns over TLS with the configured CA; without it the certificate is refused', async () => {
    const trainer = rspamdTrainer(db.pool, { controllerUrl: url, maxSize: 1024, timeoutMs: 5000, ca: ca.cert });
    expect(await trainer.learn(id, 'spam')).toEqual({ found: true, learned: true, message: 'learned as spam' });
    expect(got).toEqual([{ path: '/learnspam', body: raw }]);
    const untrusted = rspamdTrainer(db.pool, { controllerUrl: url, maxSize: 1024, timeoutMs: 5000 });
    await expect(untrusted.learn(id, 'ham')).rejects.toThrow(/certificate/);
    expect(got).toHaveLength(1);
  });
});
