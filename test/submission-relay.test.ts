// Submitted mail for another domain leaves the cluster: smtp-ingress (587, AUTH) →
// routing (the original recipient becomes `relay`, a deliver-remote job) → outbound-relay
// → a fake MX found through a fake DNS zone. The other services run in this process on
// their own apps, as their tests do.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { hash } from '@node-rs/argon2';
import { loadConfig } from '@hopmail/config';
import { createLogger, createRegistry } from '@hopmail/service-kit';
import { startFakeDns, startFakeMx, waitFor, type FakeDns, type FakeMx } from '@hopmail/test-kit';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp as createRelayApp, type RelayApp } from '../services/outbound-relay/src/app.ts';
import { configSchema as relayConfigSchema } from '../services/outbound-relay/src/config.ts';
import { buildApp as buildRoutingApp } from '../services/routing/test/fixtures.ts';
import { HOSTNAME, startIngress, writeCertificate, type TestIngress } from '../services/smtp-ingress/test/helpers.ts';

const MX = '127.0.0.71';
const SOA = { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 1 };
const PASSWORD = 'relay test passphrase';
const dir = mkdtempSync(join(tmpdir(), 'hopmail-smtp-relay-'));
let t: TestIngress;
let mx: FakeMx;
let dns: FakeDns;
let relay: RelayApp;
let routing: ReturnType<typeof buildRoutingApp>;

beforeAll(async () => {
  const cert = writeCertificate(dir, 'tls', [HOSTNAME]);
  t = await startIngress({ env: { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile, SUBMISSION_PORT: '0', SUBMISSIONS_PORT: '0' } });
  await t.pool.query('UPDATE mailboxes SET password_hash = $1', [await hash(PASSWORD)]);
  mx = await startFakeMx([MX]);
  dns = await startFakeDns({
    host: '127.0.0.72',
    records: [
      { name: 'test', type: 'SOA', data: SOA },
      { name: 'remote.test', type: 'MX', data: { preference: 10, exchange: 'mx.remote.test' } },
      { name: 'mx.remote.test', type: 'A', data: MX },
    ],
  });
  routing = buildRoutingApp(t.pool, t.redis, { DATABASE_URL: t.db.url, REDIS_URL: t.config.REDIS_URL, REDIS_PREFIX: t.prefix });
  const config = loadConfig('outbound-relay', relayConfigSchema, {
    argv: [],
    env: {
      DATABASE_URL: t.db.url,
      REDIS_URL: t.config.REDIS_URL,
      REDIS_PREFIX: t.prefix,
      RELAY_HOSTNAME: 'relay.hopmail.test',
      RELAY_PORT: String(mx.port),
      DNS_SERVERS: `${dns.host}:${dns.port}`,
      DNS_TIMEOUT_MS: '500',
      RELAY_ALLOW_LOOPBACK_MX: 'true',
      RELAY_SCHEDULER_INTERVAL_MS: '50',
      RELAY_POOL_IDLE_MS: '0',
    },
  });
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  relay = createRelayApp({ config, logger: createLogger('outbound-relay', 'info', sink as never), registry: createRegistry('outbound-relay'), pool: t.pool, redis: t.redis });
  await relay.start();
});
afterAll(async () => {
  await relay?.stop();
  await routing?.stop();
  await mx?.stop();
  await dns?.stop();
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('an authenticated user reaches a remote domain: relay recipient, deliver-remote job, the fake MX receives it', async () => {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.app.ports.submission!, requireTLS: true, name: 'client.test', auth: { user: 'alice@example.org', pass: PASSWORD }, tls: { rejectUnauthorized: false } });
  const info = await transport.sendMail({ from: 'alice@example.org', to: ['bob@example.org', 'friend@remote.test'], subject: 'to the world', text: 'hello out there' });
  const id = /queued as (\S+)/.exec(info.response)![1]!;
  // Before routing, both recipients are queued; routing marks the remote one `relay`
  // (checked in the same statement the relay's result would overwrite, so read the result).
  const result = await routing.route(id);
  expect(result.relayJobs).toEqual([`${id}@remote.test`]);
  const relayRow = await t.pool.query(`SELECT status FROM recipients WHERE message_id = $1 AND address = 'friend@remote.test' AND status IN ('relay', 'delivered')`, [id]);
  expect(relayRow.rowCount).toBe(1);
  const statuses = async () =>
    Object.fromEntries((await t.pool.query<{ address: string; status: string }>('SELECT address, status FROM recipients WHERE message_id = $1', [id])).rows.map((r) => [r.address, r.status]));
  expect((await statuses())['bob@example.org']).toBe('delivered');
  const copies = await t.pool.query(`SELECT mb.address FROM mailbox_messages mm JOIN mailboxes mb ON mb.id = mm.mailbox_id WHERE mm.message_id = $1`, [id]);
  expect(copies.rows).toEqual([{ address: 'bob@example.org' }]);
  const tx = await waitFor(async () => mx.transactions.find((x) => x.to.includes('friend@remote.test')), { what: 'delivery to the fake MX' });
  expect(tx.from).toBe('alice@example.org');
  expect(tx.to).toEqual(['friend@remote.test']);
  expect(tx.data.toString()).toContain('Subject: to the world');
  expect(tx.data.toString()).toMatch(/with ESMTPSA id /);
  await waitFor(async () => (await statuses())['friend@remote.test'] === 'delivered', { what: 'relay recipient delivered' });
});
