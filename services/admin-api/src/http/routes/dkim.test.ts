// DKIM keys through the API: generation and import, the key lifecycle (pending → active →
// retiring → retired) with the DNS check at activation, bad input, and the DNS doctor
// against a fake DNS. Private keys never appear in a response, a log line or the audit log.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKek, openPrivateKey } from '@hopmail/sender-auth';
import { startFakeDns, type FakeDns, type FakeDnsRecord } from '@hopmail/test-kit';
import { buildTestApi, type ApiHarness, type ApiResponse } from '../../../test/support.ts';

const KEK = Buffer.alloc(32, 11).toString('base64');
let api: ApiHarness;
let dns: FakeDns;
const responses: string[] = [];
let published: FakeDnsRecord[] = [];

const call = async (method: string, path: string, body?: unknown): Promise<ApiResponse> => {
  const r = await api.call(method, path, body);
  responses.push(JSON.stringify(r.json ?? null));
  return r;
};
const publish = (...records: FakeDnsRecord[]) => {
  published = [...published, ...records];
  dns.setRecords(published);
};
const txt = (name: string, data: string): FakeDnsRecord => ({ name, type: 'TXT', data, ttl: 0 });

beforeAll(async () => {
  dns = await startFakeDns({ host: '127.0.0.71', records: [] });
  api = await buildTestApi({ DKIM_KEY_ENCRYPTION_KEY: KEK, DNS_SERVERS: `${dns.host}:${dns.port}`, DNS_TIMEOUT_MS: '500', DNS_TRIES: '1', MAIL_HOSTNAME: 'mx.hopmail.test' });
  for (const name of ['keys.example', 'rotate.example', 'doctor.example', 'bad.example']) expect((await api.call('POST', '/v1/domains', { name })).status).toBe(201);
});
afterAll(async () => {
  await api?.close();
  await dns?.stop();
});

describe('DKIM keys', () => {
  it('generates a pending Ed25519 key and returns its public part and TXT record only', async () => {
    const r = await call('POST', '/v1/domains/keys.example/dkim', { selector: 'Ed1', algorithm: 'ed25519' });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({
      domain: 'keys.example', selector: 'ed1', algorithm: 'ed25519', bits: 256, publicKey: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/),
      status: 'pending', signing: false, imported: false, createdAt: expect.any(String), activatedAt: null, retireAt: null, retiredAt: null,
      dns: { name: 'ed1._domainkey.keys.example', type: 'TXT', value: `v=DKIM1; k=ed25519; p=${r.json.publicKey}` },
    });
    const row = await api.db.pool.query('SELECT private_key, kek_id FROM dkim_keys WHERE selector = $1', ['ed1']);
    expect(row.rows[0].kek_id).toBe(loadKek(KEK).id);
    expect(row.rows[0].private_key.toString('latin1')).not.toContain('PRIVATE KEY');
  });

  it('activation checks the published record through DNS: missing and mismatching are 409, published is 200', async () => {
    const r = await call('POST', '/v1/domains/keys.example/dkim/ed1/activate');
    expect(r.status).toBe(409);
    expect(r.json.error.message).toMatch(/^the TXT record ed1\._domainkey\.keys\.example is missing; publish "v=DKIM1; k=ed25519; p=.*" first, or pass force$/);
    publish(txt('ed1._domainkey.keys.example', 'v=DKIM1; k=ed25519; p=AAAA'));
    expect((await call('POST', '/v1/domains/keys.example/dkim/ed1/activate')).json.error.message).toMatch(/is mismatch \(found: v=DKIM1; k=ed25519; p=AAAA\)/);
    const key = (await call('GET', '/v1/domains/keys.example/dkim')).json.items[0];
    published = [];
    publish(txt(key.dns.name, key.dns.value));
    const a = await call('POST', '/v1/domains/keys.example/dkim/ed1/activate');
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ status: 'active', signing: true, activatedAt: expect.any(String) });
    expect((await call('POST', '/v1/domains/keys.example/dkim/ed1/activate')).status).toBe(409);
  });

  it('rotation: the new key signs, the old one retires after the grace period, then can be deleted', async () => {
    const first = await call('POST', '/v1/domains/rotate.example/dkim', { selector: 'rsa1', algorithm: 'rsa', activate: true });
    expect(first.json).toMatchObject({ status: 'active', signing: true, bits: 2048 });
    const second = await call('POST', '/v1/domains/rotate.example/dkim', { selector: 'rsa2', algorithm: 'rsa', bits: 3072 });
    expect(second.json).toMatchObject({ status: 'pending', signing: false, bits: 3072 });
    expect((await call('POST', '/v1/domains/rotate.example/dkim/rsa2/activate', { force: true, graceDays: 3 })).json).toMatchObject({ status: 'active', signing: true });
    const list = (await call('GET', '/v1/domains/rotate.example/dkim')).json.items;
    const old = list.find((k: { selector: string }) => k.selector === 'rsa1');
    expect(old).toMatchObject({ status: 'retiring', signing: false });
    expect(new Date(old.retireAt).getTime() - Date.now()).toBeGreaterThan(3 * 86_400_000 - 60_000);
    expect((await call('DELETE', '/v1/domains/rotate.example/dkim/rsa1')).status).toBe(409);
    expect((await call('POST', '/v1/domains/rotate.example/dkim/rsa1/retire')).json).toMatchObject({ status: 'retired', signing: false, retiredAt: expect.any(String) });
    expect((await call('DELETE', '/v1/domains/rotate.example/dkim/rsa1')).status).toBe(204);
    expect((await call('DELETE', '/v1/domains/rotate.example/dkim/rsa2')).json.error.message).toBe('DKIM key rsa2 of rotate.example is active; retire it first');
    // Past its retire_at a key counts as retired.
    await api.db.pool.query(`UPDATE dkim_keys SET status = 'active', retired_at = NULL, activated_at = now() - interval '1 day', retire_at = now() - interval '1 second' WHERE selector = 'rsa2'`);
    expect((await call('GET', '/v1/domains/rotate.example/dkim')).json.items[0]).toMatchObject({ selector: 'rsa2', status: 'retired', signing: false });
  });

  it('imports Ed25519 and RSA keys; refuses a 512-bit key as too weak', async () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const r = await call('POST', '/v1/domains/keys.example/dkim', { selector: 'imported', privateKey: ed });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ algorithm: 'ed25519', imported: true });
    const weak = execFileSync('openssl', ['genrsa', '512'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const w = await call('POST', '/v1/domains/keys.example/dkim', { selector: 'weak', privateKey: weak });
    expect(w.status).toBe(400);
    expect(w.json.error.message).toBe('body.privateKey is an RSA key of 512 bits: too weak, verifiers refuse keys under 1024 bits (RFC 8301 §3.2); use 2048');
    expect((await call('POST', '/v1/domains/keys.example/dkim', { selector: 'x1', privateKey: ed, algorithm: 'rsa' })).json.error.message).toBe('body.privateKey is an ed25519 key, not rsa');
    expect((await call('POST', '/v1/domains/keys.example/dkim', { selector: 'x2', privateKey: 'garbage' })).json.error.message).toBe('body.privateKey is not a PEM private key (PKCS#8, or PKCS#1 for RSA)');
    // the imported key is the one stored (decrypts under the KEK to the same key)
    const row = await api.db.pool.query('SELECT private_key FROM dkim_keys WHERE selector = $1', ['imported']);
    const pem = openPrivateKey(loadKek(KEK), { domain: 'keys.example', selector: 'imported' }, row.rows[0].private_key);
    expect(createPrivateKey(pem).export({ format: 'jwk' })).toEqual(createPrivateKey(ed).export({ format: 'jwk' }));
  });

  it.each([
    [{ selector: 'sélecteur', algorithm: 'ed25519' }, 'body.selector must be ASCII (give an internationalised selector as its xn-- A-label)'],
    [{ selector: 'sel_1', algorithm: 'ed25519' }, 'body.selector must be DNS labels of letters, digits and inner hyphens, separated by dots (RFC 6376 §3.1)'],
    [{ selector: 'a..b', algorithm: 'ed25519' }, 'body.selector must be DNS labels of letters, digits and inner hyphens, separated by dots (RFC 6376 §3.1)'],
    [{ selector: 'evil\r\nx', algorithm: 'ed25519' }, 'body.selector must not contain control characters (CR, LF, NUL, TAB…)'],
    [{ selector: 's1' }, 'body.algorithm is required (ed25519 or rsa) unless body.privateKey is given'],
    [{ selector: 's1', algorithm: 'dsa' }, 'body.algorithm must be one of "ed25519", "rsa"'],
    [{ selector: 's1', algorithm: 'rsa', bits: 1024 }, 'body.bits must be one of 2048, 3072, 4096'],
    [{ selector: 's1', algorithm: 'ed25519', bits: 2048 }, 'body.bits applies to RSA keys only'],
  ])('refuses %j with 400', async (body, message) => {
    const r = await call('POST', '/v1/domains/bad.example/dkim', body);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 'invalid_request', message } });
  });

  it('a non-ASCII selector in the path is 400; an unknown one 404; a taken one 409; an unknown domain 404', async () => {
    expect((await call('POST', `/v1/domains/keys.example/dkim/${encodeURIComponent('sél')}/retire`)).json.error).toEqual({ code: 'invalid_request', message: 'params.selector must be ASCII (give an internationalised selector as its xn-- A-label)' });
    expect((await call('POST', '/v1/domains/keys.example/dkim/nope/retire')).status).toBe(404);
    expect((await call('POST', '/v1/domains/keys.example/dkim', { selector: 'ED1', algorithm: 'rsa' })).json.error).toEqual({ code: 'conflict', message: 'selector ed1 already exists for keys.example; choose another (body.selector)' });
    expect((await call('GET', '/v1/domains/nowhere.example/dkim')).status).toBe(404);
  });

  it('no private key in any response, log line or audit entry', async () => {
    const rows = await api.db.pool.query<{ selector: string; domain: string; private_key: Buffer }>('SELECT k.selector, d.name AS domain, k.private_key FROM dkim_keys k JOIN domains d ON d.id = k.domain_id');
    expect(rows.rows.length).toBeGreaterThanOrEqual(3);
    const audit = JSON.stringify((await api.db.pool.query('SELECT * FROM audit_log')).rows);
    expect(audit).toContain('[redacted]');
    const everything = [responses.join('\n'), api.logText(), audit];
    for (const r of rows.rows) {
      const pem = openPrivateKey(loadKek(KEK), { domain: r.domain, selector: r.selector }, r.private_key);
      for (const line of pem.split('\n').filter((l) => l && !l.startsWith('-----'))) {
        for (const text of everything) expect(text).not.toContain(line.slice(0, 40));
      }
    }
    for (const text of everything) expect(text).not.toContain(KEK);
  });
});

describe('GET /v1/domains/{name}/dns', () => {
  it('lists every record with ok, missing or mismatch, as DNS has it now', async () => {
    const key = (await call('POST', '/v1/domains/doctor.example/dkim', { selector: 'ed9', algorithm: 'ed25519', activate: true })).json;
    await call('POST', '/v1/domains/doctor.example/dkim', { selector: 'rsa9', algorithm: 'rsa' });
    publish(
      { name: 'doctor.example', type: 'MX', data: { preference: 10, exchange: 'mx.hopmail.test' }, ttl: 0 },
      txt('doctor.example', 'v=spf1 a -all'),
      txt(key.dns.name, key.dns.value),
      txt('_dmarc.doctor.example', 'v=DMARC1; p=reject'),
    );
    const r = await call('GET', '/v1/domains/doctor.example/dns');
    expect(r.status).toBe(200);
    expect(r.json.ok).toBe(false);
    expect(r.json.records.map((x: any) => [x.kind, x.name, x.status, x.found, x.detail ?? null])).toEqual([
      ['mx', 'doctor.example', 'ok', ['10 mx.hopmail.test.'], null],
      ['spf', 'doctor.example', 'mismatch', ['v=spf1 a -all'], 'lacks mx'],
      ['dkim', 'ed9._domainkey.doctor.example', 'ok', [key.dns.value], null],
      ['dkim', 'rsa9._domainkey.doctor.example', 'missing', null, null],
      ['dmarc', '_dmarc.doctor.example', 'ok', ['v=DMARC1; p=reject'], null],
      ['mta-sts', '_mta-sts.doctor.example', 'missing', null, null],
      ['tls-rpt', '_smtp._tls.doctor.example', 'missing', null, null],
    ]);
    // one query per record, asked together
    const asked = dns.queries.filter((q) => q.name.endsWith('doctor.example'));
    expect(asked.length).toBeLessThanOrEqual(7);
  });

  it('a temporary DNS failure is unknown, not missing', async () => {
    dns.setBehaviour({ servfail: ['_dmarc.doctor.example'] });
    const r = await call('GET', '/v1/domains/doctor.example/dns');
    dns.setBehaviour({});
    expect(r.json.records.find((x: any) => x.kind === 'dmarc')).toMatchObject({ status: 'unknown', found: null, detail: expect.stringMatching(/DNS lookup failed/) });
  });
});
