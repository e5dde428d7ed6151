// RFC 8460 §5.3 by mail: the TLS-RPT report address (TLSRPT_LOCAL_PART, the rua our DNS doctor
// proposes) is accepted at every local domain even when nobody made a mailbox or alias of
// that name; elsewhere it is refused as before; a real mailbox or alias keeps working.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@hopmail/test-kit';
import { SmtpClient, expectCode, sendMessage, simpleMessage, startIngress, type TestIngress } from '../test/helpers.ts';

describe('TLS-RPT report address over SMTP', () => {
  let db: TestDatabase;
  let t: TestIngress;
  const clients: SmtpClient[] = [];
  const client = async (port = t.port) => {
    const c = await SmtpClient.connect(port);
    clients.push(c);
    expectCode(await c.cmd('EHLO client.test'), 250);
    expectCode(await c.cmd('MAIL FROM:<reports@sender.test>'), 250);
    return c;
  };
  const storedRecipients = async () => (await db.pool.query<{ address: string }>('SELECT address FROM recipients ORDER BY id')).rows.map((r) => r.address);

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.pool.query(`INSERT INTO domains (name, kind) VALUES ('example.org', 'local'), ('other.example', 'local'), ('relay.example', 'relay')`);
    await db.pool.query(`INSERT INTO mailboxes (domain_id, local_part, address, password_hash) SELECT id, 'bob', 'bob@example.org', 'x' FROM domains WHERE name = 'example.org'`);
    await db.pool.query(`INSERT INTO aliases (domain_id, source, targets) SELECT id, 'tls-reports@other.example', '{bob@example.org}' FROM domains WHERE name = 'other.example'`);
    t = await startIngress({ db });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await t?.stop();
    await db?.drop();
  });

  it('accepts <tls-reports@local domain> without a mailbox, in any case and with a subaddress, and stores it as given', async () => {
    const c = await SmtpClient.connect(t.port);
    clients.push(c);
    const reply = await sendMessage(c, 'reports@sender.test', ['tls-reports@example.org', 'TLS-Reports+google@Example.org'], simpleMessage());
    expect(reply).toMatch(/^250 /);
    expect(await storedRecipients()).toEqual(['tls-reports@example.org', 'TLS-Reports+google@Example.org']);
    expect(t.logs.filter((l) => l.event === 'smtp-ingress.tls-report-accepted').map((l) => l.to)).toEqual(['tls-reports@example.org', 'TLS-Reports+google@Example.org']);
  });

  it('refuses it where the domain is not ours, and refuses other unknown local parts as before', async () => {
    const c = await client();
    expect(await c.cmd('RCPT TO:<tls-reports@elsewhere.test>')).toMatch(/^554 5\.7\.1 /);
    expect(await c.cmd('RCPT TO:<tls-reports@relay.example>')).toMatch(/^554 5\.7\.1 /);
    expect(await c.cmd('RCPT TO:<tls-reportsx@example.org>')).toMatch(/^550 5\.1\.1 /);
    expect(await c.cmd('RCPT TO:<nobody@example.org>')).toMatch(/^550 5\.1\.1 /);
  });

  it('keeps a real alias of that name working as usual', async () => {
    const before = t.logs.filter((l) => l.event === 'smtp-ingress.tls-report-accepted').length;
    const c = await SmtpClient.connect(t.port);
    clients.push(c);
    expect(await sendMessage(c, 'reports@sender.test', ['tls-reports@other.example'], simpleMessage())).toMatch(/^250 /);
    expect((await storedRecipients()).at(-1)).toBe('tls-reports@other.example');
    // Resolved like any alias: not the report address's own acceptance.
    expect(t.logs.filter((l) => l.event === 'smtp-ingress.tls-report-accepted')).toHaveLength(before);
  });

  it('follows TLSRPT_LOCAL_PART', async () => {
    const other = await startIngress({ db, env: { TLSRPT_LOCAL_PART: 'smtp-tls' } });
    try {
      const c = await client(other.port);
      expect(await c.cmd('RCPT TO:<smtp-tls@example.org>')).toMatch(/^250 /);
      expect(await c.cmd('RCPT TO:<tls-reports@example.org>')).toMatch(/^550 5\.1\.1 /);
    } finally {
      await other.stop();
    }
  });

  it('refuses a TLSRPT_LOCAL_PART that is no local part', async () => {
    await expect(startIngress({ db, env: { TLSRPT_LOCAL_PART: 'a b@c' } })).rejects.toThrow(/TLSRPT_LOCAL_PART/);
  });
});
