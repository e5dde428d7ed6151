// Inbound authentication end to end, every service its own process (as `pnpm start` runs
// them): smtp-ingress checks SPF, DKIM and DMARC on its worker threads, asking dns-cache,
// which asks the fake DNS zone on 127.0.0.x. A signed message is accepted and its results are
// shown by admin-api's message search and trace; a forged one under p=reject is refused 550;
// a domain's policy set through the API takes effect; the checks' DNS answers come from
// dns-cache's cache once warm.
import { createPrivateKey } from 'node:crypto';
import { dkimRecordValue, generateDkimKey, signDkim, type DkimKeyMaterial } from '@hopmail/sender-auth';
import { freePort, startFakeDns, waitFor, type FakeDns } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpClient } from '../services/smtp-ingress/test/helpers.ts';
import { startCluster, type Cluster } from './cluster.ts';

let cluster: Cluster;
let dns: FakeDns;
let key: DkimKeyMaterial;

beforeAll(async () => {
  key = await generateDkimKey('ed25519');
  dns = await startFakeDns({
    host: '127.0.0.90',
    records: [
      { name: 'sender.test', type: 'TXT', data: 'v=spf1 ip4:127.0.0.1 -all', ttl: 3600 },
      { name: 'sel._domainkey.sender.test', type: 'TXT', data: dkimRecordValue('ed25519', key.publicKey), ttl: 3600 },
      { name: '_dmarc.sender.test', type: 'TXT', data: 'v=DMARC1; p=reject', ttl: 3600 },
      { name: 'bank.test', type: 'TXT', data: 'v=spf1 ip4:192.0.2.1 -all', ttl: 3600 },
      { name: '_dmarc.bank.test', type: 'TXT', data: 'v=DMARC1; p=reject', ttl: 3600 },
    ],
  });
  const dnsPort = await freePort();
  cluster = await startCluster({ services: [], env: { SMTP_HOSTNAME: 'mx.hopmail.test', SMTP_REVERSE_LOOKUP: 'false', DIRECTORY_CACHE_MS: '0' } });
  await cluster.start('dns-cache', { DNS_HOST: '127.0.0.1', DNS_PORT: String(dnsPort), DNS_UPSTREAMS: `${dns.host}:${dns.port}` });
  await cluster.start('smtp-ingress', { INBOUND_AUTH: 'true', INBOUND_AUTH_WORKERS: '1', DNS_SERVERS: `127.0.0.1:${dnsPort}`, DNS_TIMEOUT_MS: '1000' });
  await cluster.start('admin-api');
  expect((await cluster.api('POST', '/v1/domains', { name: 'example.org' })).status).toBe(201);
  expect((await cluster.api('POST', '/v1/mailboxes', { address: 'alice@example.org', password: 'a long passphrase 1' })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await dns?.stop();
});

async function send(mailFrom: string, data: Buffer): Promise<string> {
  const c = await SmtpClient.connect(cluster.smtpPort);
  try {
    for (const [line, code] of [['EHLO client.sender.test', '250'], [`MAIL FROM:<${mailFrom}>`, '250'], ['RCPT TO:<alice@example.org>', '250'], ['DATA', '354']] as const) {
      const r = await c.cmd(line);
      expect(r.startsWith(code), `${line}: ${r}`).toBe(true);
    }
    c.write(Buffer.concat([data, Buffer.from('.\r\n')]));
    return await c.reply(20_000);
  } finally {
    c.close();
  }
}

const message = (from: string, subject: string) =>
  Buffer.from(`From: <${from}>\r\nTo: <alice@example.org>\r\nSubject: ${subject}\r\nDate: Sun, 06 Dec 2026 06:00:00 +0000\r\nMessage-ID: <${subject}@sender.test>\r\n\r\nHello.\r\n`);

describe('inbound authentication, end to end', () => {
  it('a signed message from a domain with SPF, DKIM and DMARC passes; the results are in the search, the trace and the message', async () => {
    const raw = message('news@sender.test', 'signed');
    const signed = Buffer.concat([Buffer.from(signDkim(raw, [{ domain: 'sender.test', selector: 'sel', algorithm: 'ed25519', privateKey: createPrivateKey(key.privatePem) }]), 'latin1'), raw]);
    const reply = await send('news@sender.test', signed);
    expect(reply).toMatch(/^250 2\.0\.0 Ok: queued as /);
    const id = /queued as (\S+)/.exec(reply)![1]!;
    const found = (await cluster.api('GET', `/v1/messages?queueId=${id}`)).json.items[0];
    expect(found.authResults).toMatchObject({
      authservId: 'mx.hopmail.test',
      spf: { result: 'pass', domain: 'sender.test' },
      dkim: [{ result: 'pass', domain: 'sender.test', selector: 'sel', algorithm: 'ed25519-sha256', aligned: true }],
      dmarc: { result: 'pass', domain: 'sender.test', policy: 'reject' },
    });
    const trace = (await cluster.api('GET', `/v1/messages/${id}/trace`)).json;
    expect(trace.message.authResults.dmarc.result).toBe('pass');
    const stored = (await cluster.db.pool.query<{ raw: Buffer }>('SELECT raw FROM messages WHERE id = $1', [id])).rows[0]!.raw.toString();
    expect(stored).toMatch(/^Authentication-Results: mx\.hopmail\.test;\r\n dkim=pass [^]*dmarc=pass[^]*\r\nReceived: from client\.sender\.test/);
  });

  it('the same sender again: answers from the warm caches, nothing new asked of the zone', async () => {
    const before = dns.queries.length;
    const raw = message('news@sender.test', 'again');
    const signed = Buffer.concat([Buffer.from(signDkim(raw, [{ domain: 'sender.test', selector: 'sel', algorithm: 'ed25519', privateKey: createPrivateKey(key.privatePem) }]), 'latin1'), raw]);
    expect(await send('news@sender.test', signed)).toMatch(/^250 /);
    expect(dns.queries.length).toBe(before);
  });

  it("a forgery of a p=reject domain is refused 550 5.7.1; the recipient domain's policy set through the API can make it marked instead", async () => {
    expect(await send('ceo@bank.test', message('ceo@bank.test', 'forged'))).toMatch(/^550 5\.7\.1 Message rejected: it fails the DMARC policy \(p=reject\) of bank\.test/);
    const r = await cluster.api('PATCH', '/v1/domains/example.org', { inboundDmarcEnforce: false });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ inboundDmarcEnforce: false, inboundSpfReject: null });
    const reply = await waitFor(async () => {
      const x = await send('ceo@bank.test', message('ceo@bank.test', 'marked'));
      return x.startsWith('250') ? x : undefined;
    }, { what: 'the policy change at smtp-ingress', timeoutMs: 10_000 });
    const id = /queued as (\S+)/.exec(reply)![1]!;
    const stored = (await cluster.db.pool.query<{ raw: Buffer }>('SELECT raw FROM messages WHERE id = $1', [id])).rows[0]!.raw.toString();
    expect(stored).toContain('\r\nX-Spam-Flag: YES\r\nReceived: ');
  });
});
