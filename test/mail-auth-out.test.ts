// Outbound authentication end to end, every service its own process (as `pnpm start` runs
// them), a fake DNS zone and fake remote MX servers on 127.0.0.x:
//  - DKIM keys through the CLI (add, publish, activate, rotate, retire) and mail signed with
//    the right ones, verified by dkimpy;
//  - an alias forwarding to an outside address: SRS envelope sender and an ARC seal; the
//    remote's bounce to the SRS address comes back to the original sender; a forged SRS
//    address is refused;
//  - the DNS doctor through the CLI;
//  - no private key in any API response, CLI output, log line of any service, or the trace.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadKek, openPrivateKey } from '@hopmail/sender-auth';
import { dkimpyMissing, startFakeDns, startFakeMx, verifyWithDkimpy, waitFor, type FakeDns, type FakeDnsRecord, type FakeMx, type MxTransaction } from '@hopmail/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpClient } from '../services/smtp-ingress/test/helpers.ts';
import { startCluster, type Cluster } from './cluster.ts';

const BIN = fileURLToPath(new URL('../packages/cli/bin/hopmail.js', import.meta.url));
const KEK = Buffer.alloc(32, 77).toString('base64');
const REMOTE_MX = '127.0.0.81';
const BANK_MX = '127.0.0.82';
const missing = dkimpyMissing();
if (missing) console.log(`skipping the dkimpy checks: ${missing}`);

let cluster: Cluster;
let dns: FakeDns;
let mx: FakeMx;
let zone: FakeDnsRecord[];
const outputs: string[] = [];

function hopmail(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOPMAIL_API_URL: `http://127.0.0.1:${cluster.adminPort}`, HOPMAIL_API_TOKEN: cluster.adminToken }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      outputs.push(out, err);
      resolve({ code: code ?? -1, out, err });
    });
  });
}
const json = async (...args: string[]) => {
  const r = await hopmail('--json', ...args);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out);
};
const publish = (...records: FakeDnsRecord[]) => {
  zone = [...zone, ...records];
  dns.setRecords(zone);
};
const txtOf = (k: { dns: { name: string; value: string } }): FakeDnsRecord => ({ name: k.dns.name, type: 'TXT', data: k.dns.value, ttl: 0 });
/** `sel._domainkey.dom` → TXT of every key record in the zone, for dkimpy. */
const keyRecords = () => Object.fromEntries(zone.filter((r) => r.name.includes('._domainkey.')).map((r) => [r.name, r.data as string]));

async function send(from: string, to: string, headerFrom: string, subject: string): Promise<string> {
  const c = await SmtpClient.connect(cluster.smtpPort);
  try {
    for (const [line, code] of [['EHLO client.bank.example', '250'], [`MAIL FROM:<${from}>`, '250'], [`RCPT TO:<${to}>`, '250'], ['DATA', '354']] as const) {
      const r = await c.cmd(line);
      expect(r.startsWith(code), `${line}: ${r}`).toBe(true);
    }
    const r = await c.cmd(`From: ${headerFrom}\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <${subject}@client.test>\r\n\r\nHello ${subject}.\r\n.`);
    expect(r).toMatch(/^250 /);
    return r;
  } finally {
    c.close();
  }
}
const arrived = (subject: string, ip = REMOTE_MX): Promise<MxTransaction> =>
  waitFor(async () => mx.transactions.find((t) => t.ip === ip && t.data.includes(Buffer.from(`Subject: ${subject}`))), { what: `${subject} at ${ip}`, timeoutMs: 30_000 });

beforeAll(async () => {
  mx = await startFakeMx([REMOTE_MX, BANK_MX]);
  zone = [
    { name: 'remote.test', type: 'MX', data: { preference: 10, exchange: 'mx.remote.test' } },
    { name: 'mx.remote.test', type: 'A', data: REMOTE_MX },
    { name: 'bank.example', type: 'MX', data: { preference: 10, exchange: 'mx.bank.example' } },
    { name: 'mx.bank.example', type: 'A', data: BANK_MX },
    { name: 'example.org', type: 'MX', data: { preference: 10, exchange: 'mx.hopmail.test' }, ttl: 0 },
    { name: 'example.org', type: 'TXT', data: 'v=spf1 mx -all', ttl: 0 },
  ];
  dns = await startFakeDns({ host: '127.0.0.80', records: zone });
  cluster = await startCluster({
    services: ['smtp-ingress', 'routing', 'outbound-relay', 'admin-api'],
    env: {
      DKIM_KEY_ENCRYPTION_KEY: KEK,
      SRS_SECRET: 'end to end srs secret 0123',
      DNS_SERVERS: `${dns.host}:${dns.port}`,
      DNS_TIMEOUT_MS: '1000',
      MAIL_HOSTNAME: 'mx.hopmail.test',
      SMTP_HOSTNAME: 'mx.hopmail.test',
      RELAY_HOSTNAME: 'mx.hopmail.test',
      RELAY_PORT: String(mx.port),
      RELAY_ALLOW_LOOPBACK_MX: 'true',
      RELAY_SCHEDULER_INTERVAL_MS: '200',
      RELAY_POOL_IDLE_MS: '0',
      SMTP_REVERSE_LOOKUP: 'false',
      DIRECTORY_CACHE_MS: '0',
    },
  });
  expect((await cluster.api('POST', '/v1/domains', { name: 'example.org' })).status).toBe(201);
  expect((await cluster.api('POST', '/v1/aliases', { source: 'fwd@example.org', targets: ['target@remote.test'] })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  await mx?.stop();
  await dns?.stop();
});

describe('outbound authentication, end to end', () => {
  let first: { selector: string; algorithm: string; status: string; dns: { name: string; value: string } }[];

  it('keys through the CLI: added pending, refused activation until published, then signing; dkimpy verifies both signatures', { timeout: 90_000 }, async () => {
    first = await json('dkim', 'add', 'example.org');
    expect(first.map((k) => [k.algorithm, k.status])).toEqual([['ed25519', 'pending'], ['rsa', 'pending']]);
    const refused = await hopmail('dkim', 'activate', 'example.org', first[0]!.selector);
    expect(refused.code).toBe(5);
    expect(refused.err).toMatch(/is missing; publish "v=DKIM1; k=ed25519; p=/);
    publish(...first.map(txtOf));
    const activated = await hopmail('dkim', 'activate', 'example.org', ...first.map((k) => k.selector));
    expect(activated.code, activated.err).toBe(0);
    expect(activated.out).toContain(`DKIM key ${first[0]!.selector} (ed25519) of example.org is active and signs`);

    await send('alice@example.org', 'fwd@example.org', 'Alice <alice@example.org>', 'signed1');
    const t = await arrived('signed1');
    expect(t.from).toBe('alice@example.org'); // our own sender: no SRS
    if (!missing) {
      const v = await verifyWithDkimpy(t.data, keyRecords());
      expect(v.signatures.map((s) => [s.selector, s.ok])).toEqual(first.map((k) => [k.selector, true]));
    }
  });

  it('forwarding from an outside sender: SRS envelope and ARC seal; the bounce comes back to the original sender; forged SRS is refused', { timeout: 90_000 }, async () => {
    await send('ceo@bank.example', 'fwd@example.org', 'CEO <ceo@bank.example>', 'forwarded1');
    const t = await arrived('forwarded1');
    expect(t.to).toEqual(['target@remote.test']);
    expect(t.from).toMatch(/^SRS0=[^=]{4}=[A-Z2-7]{2}=bank\.example=ceo@example\.org$/);
    expect(t.data.toString()).toMatch(/^ARC-Seal: i=1; a=rsa-sha256;/);
    if (!missing) expect((await verifyWithDkimpy(t.data, keyRecords())).arc).toMatchObject({ cv: 'pass' });

    // The remote MTA bounces it later, to the envelope sender it was given.
    const c = await SmtpClient.connect(cluster.smtpPort);
    try {
      expect(await c.cmd('EHLO mx.remote.test')).toMatch(/^250/);
      expect(await c.cmd('MAIL FROM:<>')).toMatch(/^250 /);
      expect(await c.cmd(`RCPT TO:<${t.from}>`)).toMatch(/^250 /);
      expect(await c.cmd('DATA')).toMatch(/^354 /);
      expect(await c.cmd('From: MAILER-DAEMON@mx.remote.test\r\nTo: ' + t.from + '\r\nSubject: bounce1 Undelivered Mail\r\n\r\ntarget@remote.test: mailbox full\r\n.')).toMatch(/^250 /);
      // …and a forged one never gets in.
      expect(await c.cmd('MAIL FROM:<>')).toMatch(/^250 /);
      expect(await c.cmd(`RCPT TO:<${t.from.replace(/^SRS0=..../, 'SRS0=AAAA')}>`)).toMatch(/^550 5\.7\.1 .*Invalid SRS address: its hash does not match/);
    } finally {
      c.close();
    }
    const back = await arrived('bounce1', BANK_MX);
    expect(back.to).toEqual(['ceo@bank.example']);
    expect(back.from).toBe('');
  });

  it('rotation through the CLI: new keys sign, old ones retire and never sign again', { timeout: 90_000 }, async () => {
    const next = await json('dkim', 'rotate', 'example.org');
    expect(next.map((k: any) => k.status)).toEqual(['pending', 'pending']);
    expect(next.map((k: any) => k.selector)).not.toEqual(first.map((k) => k.selector));
    publish(...next.map(txtOf));
    expect((await hopmail('dkim', 'activate', 'example.org', ...next.map((k: any) => k.selector), '--grace-days', '2')).code).toBe(0);
    const list = await json('dkim', 'list', 'example.org');
    const status = Object.fromEntries(list.items.map((k: any) => [k.selector, [k.status, k.signing]]));
    expect(status).toEqual({ ...Object.fromEntries(first.map((k) => [k.selector, ['retiring', false]])), ...Object.fromEntries(next.map((k: any) => [k.selector, ['active', true]])) });

    await send('alice@example.org', 'fwd@example.org', 'alice@example.org', 'signed2');
    const t2 = await arrived('signed2');
    if (!missing) expect((await verifyWithDkimpy(t2.data, keyRecords())).signatures.map((s) => [s.selector, s.ok])).toEqual(next.map((k: any) => [k.selector, true]));

    // Roll back: retire the new keys. The old ones are still in their grace period and sign again.
    expect((await hopmail('dkim', 'retire', 'example.org', ...next.map((k: any) => k.selector))).code).toBe(0);
    await send('alice@example.org', 'fwd@example.org', 'alice@example.org', 'signed3');
    const t3 = await arrived('signed3');
    expect(t3.data.toString()).toContain(`s=${first[0]!.selector};`);
    // Retire those too: nothing signs, and the trace says why.
    expect((await hopmail('dkim', 'retire', 'example.org', ...first.map((k) => k.selector))).code).toBe(0);
    await send('alice@example.org', 'fwd@example.org', 'alice@example.org', 'unsigned4');
    const t4 = await arrived('unsigned4');
    expect(t4.data.toString()).not.toMatch(/^DKIM-Signature:/m);
    const id = (await cluster.db.pool.query(`SELECT id FROM messages WHERE position('Subject: unsigned4' in convert_from(raw, 'UTF8')) > 0`)).rows[0].id;
    const trace = await hopmail('trace', id);
    expect(trace.out).toMatch(/dkim=unsigned/);
    const traced = await json('trace', id);
    expect(traced.events.find((e: any) => e.type === 'relay-attempt').data.auth).toEqual({ dkim: { result: 'unsigned', reason: 'no active DKIM key for example.org' } });
    const rm = await hopmail('dkim', 'rm', 'example.org', first[0]!.selector);
    expect(rm).toMatchObject({ code: 0, out: `DKIM key ${first[0]!.selector} of example.org deleted\n` });
  });

  it('hopmail domains dns: every record with its status, what to publish, and --json', { timeout: 60_000 }, async () => {
    const fresh = await json('dkim', 'add', 'example.org', '--algorithm', 'ed25519', '--selector', 'doctor1', '--activate');
    expect(fresh[0]).toMatchObject({ selector: 'doctor1', status: 'active' });
    const r = await hopmail('domains', 'dns', 'example.org');
    expect(r.code).toBe(0);
    const rows = r.out.split('\n');
    expect(rows[0]).toMatch(/^KIND\s+NAME\s+TYPE\s+STATUS\s+FOUND$/);
    expect(r.out).toMatch(/^mx\s+example\.org\s+MX\s+ok\s+10 mx\.hopmail\.test\.$/m);
    expect(r.out).toMatch(/^spf\s+example\.org\s+TXT\s+ok\s+v=spf1 mx -all$/m);
    expect(r.out).toMatch(/^dkim\s+doctor1\._domainkey\.example\.org\s+TXT\s+missing\s+-$/m);
    expect(r.out).toMatch(/^dmarc\s+_dmarc\.example\.org\s+TXT\s+missing/m);
    expect(r.out).toContain(`doctor1._domainkey.example.org. IN TXT "${fresh[0].dns.value}"`);
    expect(r.out).toMatch(/example\.org: not ready\n$/);
    const j = await json('domains', 'dns', 'example.org');
    expect(j.records.filter((x: any) => x.kind === 'dkim').map((x: any) => [x.selector, x.status])).toEqual(expect.arrayContaining([['doctor1', 'missing']]));
  });

  it('no private key in any API response, CLI output, service log or trace event', async () => {
    const rows = await cluster.db.pool.query<{ selector: string; private_key: Buffer }>('SELECT selector, private_key FROM dkim_keys');
    expect(rows.rows.length).toBeGreaterThanOrEqual(4);
    const logs = [...cluster.procs.values()].map((p) => JSON.stringify(p.logs)).join('\n');
    const events = JSON.stringify((await cluster.db.pool.query('SELECT data FROM message_events')).rows);
    const everything = [outputs.join('\n'), logs, events];
    for (const r of rows.rows) {
      const pem = openPrivateKey(loadKek(KEK), { domain: 'example.org', selector: r.selector }, r.private_key);
      for (const line of pem.split('\n').filter((l) => l && !l.startsWith('-----'))) for (const text of everything) expect(text).not.toContain(line.slice(0, 40));
    }
    for (const text of everything) expect(text).not.toContain(KEK);
  });
});
