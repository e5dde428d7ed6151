// Per-client rate limits shared by two replicas through Redis, with a fake clock: a directory
// harvest (unknown recipients) gets the tarpit delay and 421 4.7.0, and is served again once
// the window turns; connections and messages per window the same way across replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, redisPrefix, type TestDatabase } from '@hopmail/test-kit';
import { expectCode, seedDirectory, SmtpClient, startIngress, type TestIngress } from '../test/helpers.ts';

let clock = Date.parse('2026-12-06T06:00:00Z');
const now = () => new Date(clock);
const tarpits: number[] = [];
const sleep = async (ms: number) => void tarpits.push(ms);

/** Two replicas sharing one database and one Redis prefix, started before the describe's tests and handed to `use`. */
function twoReplicas(env: Record<string, string>, use: (a: TestIngress, b: TestIngress) => void): void {
  let db: TestDatabase;
  let a: TestIngress | undefined;
  let b: TestIngress | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    await seedDirectory(db.pool);
    const prefix = redisPrefix();
    a = await startIngress({ db, prefix, env, now, sleep });
    b = await startIngress({ db, prefix, env, now, sleep });
    use(a, b);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await db?.drop();
  });
}

describe('per-client rate limits across replicas (fake clock)', () => {
  let a: TestIngress;
  let b: TestIngress;
  twoReplicas({ RATE_WINDOW_MS: '60000', RATE_MAX_UNKNOWN_RECIPIENTS: '3', RATE_MAX_CONNECTIONS: '8', RATE_MAX_MESSAGES: '4', RATE_TARPIT_MS: '7000' }, (x, y) => ([a, b] = [x, y]));

  it('harvest: past RATE_MAX_UNKNOWN_RECIPIENTS (counted on both replicas) a tarpit, 421 4.7.0 and close; reset with the next window', async () => {
    const c1 = await SmtpClient.connect(a.port);
    expectCode(await c1.cmd('EHLO h.test'), 250);
    expectCode(await c1.cmd('MAIL FROM:<h@remote.test>'), 250);
    expect(await c1.cmd('RCPT TO:<nobody1@example.org>')).toMatch(/^550 5\.1\.1 /);
    expect(await c1.cmd('RCPT TO:<nobody2@example.org>')).toMatch(/^550 5\.1\.1 /);
    c1.close();
    const c2 = await SmtpClient.connect(b.port);
    expectCode(await c2.cmd('EHLO h.test'), 250);
    expectCode(await c2.cmd('MAIL FROM:<h@remote.test>'), 250);
    expect(await c2.cmd('RCPT TO:<nobody3@example.org>')).toMatch(/^550 5\.1\.1 /);
    expect(await c2.cmd('RCPT TO:<nobody4@example.org>')).toBe('421 4.7.0 Too many unknown recipients, closing');
    await c2.waitClosed();
    expect(tarpits).toEqual([7000]);
    expect(b.logs.some((l) => l.event === 'smtp-ingress.rate-limited' && l.kind === 'unknown-recipients' && l.count === 4)).toBe(true);

    clock += 60_000;
    const c3 = await SmtpClient.connect(a.port);
    expectCode(await c3.cmd('EHLO h.test'), 250);
    expectCode(await c3.cmd('MAIL FROM:<h@remote.test>'), 250);
    expect(await c3.cmd('RCPT TO:<nobody5@example.org>')).toMatch(/^550 5\.1\.1 /);
    expect(await c3.cmd('RCPT TO:<alice@example.org>')).toMatch(/^250 /);
    c3.close();
  });

  it('messages per window: the 5th MAIL FROM across replicas is 451 4.7.1', async () => {
    clock += 60_000;
    const replies: string[] = [];
    for (const t of [a, b, a, b, a]) {
      const c = await SmtpClient.connect(t.port);
      expectCode(await c.cmd('EHLO m.test'), 250);
      replies.push(await c.cmd('MAIL FROM:<m@remote.test>'));
      c.close();
    }
    expect(replies.slice(0, 4).every((r) => r.startsWith('250 '))).toBe(true);
    expect(replies[4]).toBe('451 4.7.1 Too many messages from your address, try again later');
  });

  it('connections per window: past RATE_MAX_CONNECTIONS across replicas 421 4.7.0 instead of the greeting', async () => {
    clock += 60_000;
    for (let i = 0; i < 8; i++) (await SmtpClient.connect((i % 2 ? a : b).port)).close();
    const c = await SmtpClient.open(a.port);
    expect(await c.reply()).toBe('421 4.7.0 Too many connections from your address, try again later');
    c.close();
    clock += 60_000;
    (await SmtpClient.connect(b.port)).close();
  });
});

// RATE_MAX_RECIPIENTS beside greylisting: a RCPT that goes to Redis for its triplet is counted in
// the same script (one round trip); one answered from the replica's cache is counted on its own;
// a greylisted RCPT is never counted.
describe('recipients per window with greylisting (fake clock)', () => {
  let a: TestIngress;
  let b: TestIngress;
  twoReplicas({ RATE_WINDOW_MS: '60000', RATE_MAX_RECIPIENTS: '3', GREYLIST_ENABLED: 'true', GREYLIST_DELAY_MS: '0', GREYLIST_CLIENT_PASSES: '0' }, (x, y) => ([a, b] = [x, y]));

  it('greylisted RCPTs are not counted; passed and known ones are, on both replicas, from Redis or from the cache', async () => {
    clock = Math.ceil(clock / 60_000) * 60_000 + 60_000;
    const greylisted = '451 4.7.1 Greylisted, please try again later';
    const c1 = await SmtpClient.connect(a.port);
    expectCode(await c1.cmd('EHLO r.test'), 250);
    expectCode(await c1.cmd('MAIL FROM:<r@remote.test>'), 250);
    expect(await c1.cmd('RCPT TO:<alice@example.org>')).toBe(greylisted);
    expect(await c1.cmd('RCPT TO:<alice@example.org>')).toMatch(/^250 /); // passed: 1
    expect(await c1.cmd('RCPT TO:<bob@example.org>')).toBe(greylisted);
    expect(await c1.cmd('RCPT TO:<bob@example.org>')).toMatch(/^250 /); // passed: 2
    c1.close();
    const c2 = await SmtpClient.connect(b.port);
    expectCode(await c2.cmd('EHLO r.test'), 250);
    expectCode(await c2.cmd('MAIL FROM:<r@remote.test>'), 250);
    expect(await c2.cmd('RCPT TO:<alice@example.org>')).toMatch(/^250 /); // known in Redis: 3
    expect(await c2.cmd('RCPT TO:<alice@example.org>')).toBe('451 4.7.1 Too many recipients from your address, try again later'); // known here: 4
    c2.close();
    expect(b.logs.some((l) => l.event === 'smtp-ingress.rate-limited' && l.kind === 'recipients' && l.count === 4)).toBe(true);
    clock += 60_000;
    const c3 = await SmtpClient.connect(a.port);
    expectCode(await c3.cmd('EHLO r.test'), 250);
    expectCode(await c3.cmd('MAIL FROM:<r@remote.test>'), 250);
    expect(await c3.cmd('RCPT TO:<bob@example.org>')).toMatch(/^250 /);
    c3.close();
  });
});
