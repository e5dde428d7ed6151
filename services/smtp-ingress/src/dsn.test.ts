// DSN (RFC 3461) at the door: DSN advertised on every listener, RET/ENVID and NOTIFY/ORCPT
// checked on the line as sent (501 5.5.4), and what passes stored with the message and each
// recipient in the same commit that makes the 250.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedClients, SmtpClient, expectCode, simpleMessage, startIngress, type TestIngress } from '../test/helpers.ts';

let t: TestIngress;
const clients = checkedClients();

async function ehlo(): Promise<SmtpClient> {
  const c = await SmtpClient.connect(t.port);
  clients.push(c);
  const reply = await c.cmd('EHLO client.test');
  expect(reply).toMatch(/^250-DSN$/m);
  return c;
}

beforeAll(async () => {
  t = await startIngress();
});
afterAll(async () => {
  await t?.stop();
});

describe('DSN parameters refused with 501 5.5.4', () => {
  it.each([
    ['MAIL FROM:<a@remote.test> RET=BODY', 'RET must be FULL or HDRS'],
    ['MAIL FROM:<a@remote.test> RET=FULL RET=HDRS', 'Duplicate RET parameter'],
    ['MAIL FROM:<a@remote.test> ENVID=a+zz', 'Bad xtext in ENVID'],
    [`MAIL FROM:<a@remote.test> ENVID=${'x'.repeat(101)}`, 'ENVID longer than 100 characters'],
  ])('%s', async (line, text) => {
    const c = await ehlo();
    expect(await c.cmd(line)).toBe(`501 5.5.4 ${text}`);
    // Nothing was started: a correct MAIL is the first of the transaction.
    expect(await c.cmd('MAIL FROM:<a@remote.test>')).toMatch(/^250 2\.1\.0 /);
  });

  it.each([
    ['RCPT TO:<alice@example.org> NOTIFY=NEVER,SUCCESS', 'NOTIFY must be NEVER, or one or more of SUCCESS, FAILURE, DELAY'],
    ['RCPT TO:<alice@example.org> NOTIFY=SUCCESS,BOUNCE', 'NOTIFY must be NEVER, or one or more of SUCCESS, FAILURE, DELAY'],
    ['RCPT TO:<alice@example.org> NOTIFY=SUCCESS NOTIFY=FAILURE', 'Duplicate NOTIFY parameter'],
    ['RCPT TO:<alice@example.org> ORCPT=alice@example.org', 'ORCPT must be addr-type;address'],
    ['RCPT TO:<alice@example.org> ORCPT=rfc822;alice+2x@example.org', 'Bad xtext in ORCPT'],
    ['RCPT TO:<alice@example.org> ORCPT=rfc822;a+0D+0AX-Injected:+20yes', 'Bad xtext in ORCPT'],
    [`RCPT TO:<alice@example.org> ORCPT=rfc822;${'a'.repeat(490)}@example.org`, 'ORCPT longer than 500 characters'],
  ])('%s', async (line, text) => {
    const c = await ehlo();
    expectCode(await c.cmd('MAIL FROM:<a@remote.test>'), 250);
    expect(await c.cmd(line)).toBe(`501 5.5.4 ${text}`);
    expect(await c.cmd('DATA')).toMatch(/^503 5\.5\.1 /);
  });
});

describe('line length (RFC 3461 §4)', () => {
  it('RCPT lines get the room of NOTIFY and ORCPT; past it, 500 5.5.2', async () => {
    const c = await ehlo();
    expectCode(await c.cmd('MAIL FROM:<a@remote.test> RET=HDRS ENVID=' + 'e'.repeat(100)), 250);
    const rcpt = `RCPT TO:<alice@example.org> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;${'o'.repeat(60)}@${'d'.repeat(400)}.example`;
    expect(rcpt.length + 2).toBeGreaterThan(512);
    expect(await c.cmd(rcpt)).toMatch(/^250 2\.1\.5 /);
    expect(await c.cmd(`${rcpt}${'x'.repeat(600)}`)).toBe('500 5.5.2 Line too long');
  });
});

describe('DSN parameters stored with the message', () => {
  it('RET, ENVID (decoded), and per recipient NOTIFY and ORCPT (decoded); absent ones stay NULL', async () => {
    const c = await ehlo();
    expectCode(await c.cmd('MAIL FROM:<a@remote.test> RET=HDRS ENVID=QQ+2B314159'), 250);
    expectCode(await c.cmd('RCPT TO:<alice@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Alice+2Bdsn@example.org'), 250);
    expectCode(await c.cmd('RCPT TO:<bob@example.org> NOTIFY=never'), 250);
    expectCode(await c.cmd('RCPT TO:<carol@example.org>'), 250);
    expectCode(await c.cmd('DATA'), 354);
    c.write(simpleMessage('dsn-stored'));
    const reply = await c.reply();
    const id = /queued as (\S+)/.exec(reply)![1]!;
    const m = await t.pool.query('SELECT dsn_ret, dsn_envid FROM messages WHERE id = $1', [id]);
    expect(m.rows[0]).toEqual({ dsn_ret: 'HDRS', dsn_envid: 'QQ+314159' });
    const r = await t.pool.query('SELECT address, dsn_notify, dsn_orcpt FROM recipients WHERE message_id = $1 ORDER BY id', [id]);
    expect(r.rows).toEqual([
      { address: 'alice@example.org', dsn_notify: ['SUCCESS', 'DELAY'], dsn_orcpt: 'rfc822;Alice+dsn@example.org' },
      { address: 'bob@example.org', dsn_notify: ['NEVER'], dsn_orcpt: null },
      { address: 'carol@example.org', dsn_notify: null, dsn_orcpt: null },
    ]);
  });

  it('without DSN parameters nothing changes: NULLs, as before', async () => {
    const c = await ehlo();
    expectCode(await c.cmd('MAIL FROM:<a@remote.test>'), 250);
    expectCode(await c.cmd('RCPT TO:<alice@example.org>'), 250);
    expectCode(await c.cmd('DATA'), 354);
    c.write(simpleMessage('dsn-none'));
    const id = /queued as (\S+)/.exec(await c.reply())![1]!;
    const m = await t.pool.query('SELECT m.dsn_ret, m.dsn_envid, r.dsn_notify, r.dsn_orcpt FROM messages m JOIN recipients r ON r.message_id = m.id WHERE m.id = $1', [id]);
    expect(m.rows).toEqual([{ dsn_ret: null, dsn_envid: null, dsn_notify: null, dsn_orcpt: null }]);
  });
});
