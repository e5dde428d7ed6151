// Bounces to the SRS addresses outbound-relay makes for forwarded mail: a valid one is
// accepted and committed for the original sender; forged ones are refused at RCPT.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { srsForward } from '@hopmail/sender-auth';
import { checkedClients, SmtpClient, simpleMessage, startIngress, type TestIngress } from '../test/helpers.ts';

const SECRET = 'ingress srs test secret 0123';
const keys = { secret: SECRET, maxAgeDays: 21 };
let t: TestIngress;
const clients = checkedClients();

beforeAll(async () => {
  t = await startIngress({ env: { SRS_SECRET: SECRET, SRS_PREVIOUS_SECRETS: 'an older srs secret 0123' } });
});
afterAll(async () => {
  await t?.stop();
});

async function session(): Promise<SmtpClient> {
  const c = await SmtpClient.connect(t.port);
  clients.push(c);
  expect(await c.cmd('EHLO remote-mx.test')).toMatch(/^250 /m);
  expect(await c.cmd('MAIL FROM:<>')).toMatch(/^250 /);
  return c;
}

const srs = (sender: string, at = new Date(), secret = SECRET) => {
  const r = srsForward(sender, 'example.org', { ...keys, secret }, at);
  if (!r.ok) throw new Error(r.reason);
  return r.address;
};

describe('RCPT TO an SRS address of ours', () => {
  it('a valid one is accepted and committed for the original sender (a remote address, relayed)', async () => {
    const c = await session();
    const address = srs('ceo@bank.example');
    expect(await c.cmd(`RCPT TO:<${address}>`)).toMatch(/^250 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    const reply = await c.cmd(simpleMessage('bounce') + '.');
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as ([0-9a-f-]{36})/);
    const id = /queued as (\S+)/.exec(reply)![1];
    const r = await t.pool.query('SELECT address, domain FROM recipients WHERE message_id = $1', [id]);
    expect(r.rows).toEqual([{ address: 'ceo@bank.example', domain: 'bank.example' }]);
    expect(t.logs).toContainEqual(expect.objectContaining({ event: 'smtp-ingress.srs-reversed', srs: address, to: 'ceo@bank.example' }));
  });

  it('lower-cased by some MTA on the way back, or made with the previous secret: still accepted', async () => {
    const c = await session();
    expect(await c.cmd(`RCPT TO:<${srs('ceo@bank.example').toLowerCase()}>`)).toMatch(/^250 /);
    expect(await c.cmd(`RCPT TO:<${srs('cfo@bank.example', new Date(), 'an older srs secret 0123')}>`)).toMatch(/^250 /);
  });

  it('an SRS address reversing to one of our own mailboxes delivers there', async () => {
    const c = await session();
    expect(await c.cmd(`RCPT TO:<${srs('alice@example.org')}>`)).toMatch(/^250 /);
  });

  it.each([
    ['a wrong hash', (a: string) => a.replace(/^SRS0=(.)/, (_m, ch: string) => `SRS0=${ch === 'A' ? 'B' : 'A'}`), '550 5.7.1', 'its hash does not match'],
    ['another secret', () => srs('ceo@bank.example', new Date(), 'somebody elses secret 0123'), '550 5.7.1', 'its hash does not match'],
    ['an expired day stamp', () => srs('ceo@bank.example', new Date(Date.now() - 22 * 86_400_000)), '550 5.7.1', 'it has expired'],
    ['a stamp that is not base32', (a: string) => a.replace(/^(SRS0=[^=]+=)[^=]+=/, '$118='), '550 5.7.1', 'its time stamp is not base32'],
    ['a malformed one', () => 'SRS0=abcd=bank.example@example.org', '550 5.7.1', 'it is malformed'],
    // smtp-server itself refuses a path over 253 octets before our hook sees it
    ['an over-long one', () => `SRS0=abcd=AA=bank.example=${'x'.repeat(250)}@example.org`, '501 5.1.3', 'Bad recipient address syntax'],
  ])('%s is refused', async (_what, make, code, why) => {
    const c = await session();
    const address = make(srs('ceo@bank.example'));
    const reply = await c.cmd(`RCPT TO:<${address}>`);
    expect(reply.startsWith(code), reply).toBe(true);
    expect(reply).toContain(why);
    if (code.startsWith('550')) expect(t.logs).toContainEqual(expect.objectContaining({ event: 'smtp-ingress.rcpt-rejected', to: address, reason: expect.stringMatching(/^srs-/) }));
  });

  it('an SRS-looking address at a domain that is not ours is just an address (relay denied)', async () => {
    const c = await session();
    expect(await c.cmd(`RCPT TO:<${srs('ceo@bank.example').replace('@example.org', '@elsewhere.test')}>`)).toMatch(/^554 5\.7\.1 .*Relay access denied/);
  });
});
