// RFC 5321 §4.5.1: postmaster is accepted out of the box — bare, at our address literal, and at
// every local domain, even when nobody made a postmaster mailbox or alias.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { SmtpClient, expectCode, sendMessage, simpleMessage, startIngress, type TestIngress } from '../test/helpers.ts';
import { isPostmaster, literalIp, namesServerPostmaster } from './policy/postmaster.ts';

describe('postmaster policy', () => {
  const server = { hostname: 'mx.example.net', localIp: '192.0.2.25' };
  it.each([
    ['postmaster', true],
    ['PostMaster', true],
    ['postmaster@[192.0.2.25]', true],
    ['POSTMASTER@MX.EXAMPLE.NET', true],
    ['postmaster@[192.0.2.26]', false],
    ['postmaster@example.org', false],
    ['postmasters', false],
    ['alice@[192.0.2.25]', false],
  ])('%s names the server postmaster: %s', (address, expected) => {
    expect(namesServerPostmaster(address, server)).toBe(expected);
  });
  it('reads address literals, IPv6 and v4-mapped addresses alike', () => {
    expect(literalIp('[IPv6:2001:DB8::1]')).toBe('2001:db8::1');
    expect(literalIp('[192.0.2.1]')).toBe('192.0.2.1');
    expect(literalIp('[not an ip]')).toBeNull();
    expect(literalIp('example.org')).toBeNull();
    expect(namesServerPostmaster('postmaster@[127.0.0.1]', { hostname: 'mx', localIp: '::ffff:127.0.0.1' })).toBe(true);
    expect(namesServerPostmaster('postmaster@[IPv6:::1]', { hostname: 'mx', localIp: '::1' })).toBe(true);
    expect(isPostmaster('Postmaster@example.org')).toBe(true);
  });
});

describe('postmaster over SMTP', () => {
  let db: TestDatabase;
  let t: TestIngress;
  const clients: SmtpClient[] = [];
  const client = async (port = t.port) => {
    const c = await SmtpClient.connect(port);
    clients.push(c);
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd('MAIL FROM:<someone@remote.test>'), 250);
    return c;
  };
  const storedRecipients = async () => (await db.pool.query<{ address: string }>('SELECT address FROM recipients ORDER BY id')).rows.map((r) => r.address);

  beforeAll(async () => {
    // No domain of the host name, and at first no mailbox at all.
    db = await createTestDatabase();
    t = await startIngress({ db });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await t?.stop();
    await db?.drop();
  });

  it('answers 451 4.3.0, never 5xx, while the cluster has no mailbox to deliver to', async () => {
    const c = await client();
    expect(await c.cmd('RCPT TO:<postmaster>')).toMatch(/^451 4\.3\.0 <postmaster@mx\.test\.example>: No postmaster mailbox exists yet/);
  });

  it('delivers <postmaster>, postmaster@[our address] and a local domain\'s postmaster to the first mailbox', async () => {
    await db.pool.query(`INSERT INTO domains (name, kind) VALUES ('example.org', 'local'), ('other.example', 'local'), ('relay.example', 'relay')`);
    for (const local of ['alice', 'bob'])
      await db.pool.query(`INSERT INTO mailboxes (domain_id, local_part, address, password_hash) SELECT id, $1, $1 || '@example.org', 'x' FROM domains WHERE name = 'example.org'`, [local]);
    const c = await SmtpClient.connect(t.port);
    clients.push(c);
    const reply = await sendMessage(c, 'someone@remote.test', ['postmaster', 'postmaster@[127.0.0.1]', 'PostMaster@Other.Example'], simpleMessage());
    expect(reply).toMatch(/^250 /);
    // The three name one mailbox: stored once, as the mailbox they resolve to.
    expect(await storedRecipients()).toEqual(['alice@example.org']);
    expect(t.logs.filter((l) => l.event === 'smtp-ingress.postmaster-redirected').map((l) => l.to)).toEqual(
      expect.arrayContaining(['postmaster@mx.test.example', 'PostMaster@Other.Example']),
    );
  });

  it('keeps a domain\'s own postmaster alias, and refuses other literals and other local parts as before', async () => {
    await db.pool.query(`INSERT INTO aliases (domain_id, source, targets) SELECT id, 'postmaster@other.example', '{bob@example.org}' FROM domains WHERE name = 'other.example'`);
    const c = await client();
    expect(await c.cmd('RCPT TO:<postmaster@other.example>')).toMatch(/^250 /);
    expect(await c.cmd('RCPT TO:<nobody@other.example>')).toMatch(/^550 5\.1\.1 /);
    expect(await c.cmd('RCPT TO:<postmaster@[192.0.2.99]>')).toMatch(/^5\d\d /);
    // A relay domain's postmaster is that domain's, not ours.
    expect(await c.cmd('RCPT TO:<postmaster@relay.example>')).toMatch(/^554 5\.7\.1 /);
    expect(await c.cmd('DATA')).toMatch(/^354 /);
    c.write(simpleMessage());
    expect(await c.reply()).toMatch(/^250 /);
    expect((await storedRecipients()).at(-1)).toBe('postmaster@other.example');
  });

  it('sends it to POSTMASTER_ADDRESS when set, even an address elsewhere', async () => {
    const other = await startIngress({ db, env: { POSTMASTER_ADDRESS: 'hostmaster@noc.example' } });
    try {
      const c = await client(other.port);
      expect(await c.cmd('RCPT TO:<Postmaster>')).toMatch(/^250 /);
      expect(await c.cmd('DATA')).toMatch(/^354 /);
      c.write(simpleMessage());
      expect(await c.reply()).toMatch(/^250 /);
      expect((await storedRecipients()).at(-1)).toBe('hostmaster@noc.example');
    } finally {
      await other.stop();
    }
  });

  it('refuses a POSTMASTER_ADDRESS that is no address', async () => {
    await expect(startIngress({ db, env: { POSTMASTER_ADDRESS: 'not an address' } })).rejects.toThrow(/POSTMASTER_ADDRESS/);
  });
});
