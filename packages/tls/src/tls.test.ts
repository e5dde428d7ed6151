import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateStoreFromConfig, createCertificateStore, createSelfSignedCertificate, ensureDevCertificate, parseSniCerts, type CertificateStore } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'hopmail-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writePair(name: string, names: string[]): { certFile: string; keyFile: string } {
  const { cert, key } = createSelfSignedCertificate({ names });
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  // Rename into place, as certbot and cert-manager do.
  writeFileSync(keyFile + '.new', key);
  writeFileSync(certFile + '.new', cert);
  renameSync(keyFile + '.new', keyFile);
  renameSync(certFile + '.new', certFile);
  return { certFile, keyFile };
}

function hello(port: number, o: { servername?: string; minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2'; maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...o });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

const fp = (s: TLSSocket) => s.getPeerX509Certificate()!.fingerprint256;

let store: CertificateStore;
let server: Server;
let port: number;
beforeAll(async () => {
  const def = writePair('default', ['mail.test', '127.0.0.1']);
  const other = writePair('other', ['other.test']);
  const wild = writePair('wild', ['*.wild.test']);
  store = createCertificateStore({ ...def, sni: { 'other.test': other, '*.wild.test': wild }, debounceMs: 20, pollIntervalMs: 0 });
  store.watch();
  // Echo server: lets a test prove an established session still works after a reload.
  server = createServer(store.serverOptions(), (s) => s.pipe(s));
  store.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  store?.close();
  server?.close();
});

describe('self-signed certificates', () => {
  it('builds an X.509 certificate openssl reads, with SANs and a matching key', () => {
    const { cert } = createSelfSignedCertificate({ names: ['localhost', '127.0.0.1', '::1'] });
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: cert }).toString();
    expect(text).toContain('DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(text).toContain('CA:FALSE');
    expect(text).toContain('ecdsa-with-SHA256');
  });
  it('ensureDevCertificate creates a pair once and reuses it', () => {
    const d = join(dir, 'state');
    const a = ensureDevCertificate(d);
    const b = ensureDevCertificate(d);
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(() => createCertificateStore({ certFile: a.certFile, keyFile: a.keyFile })).not.toThrow();
  });
});

describe('certificate store', () => {
  it('selects by SNI (exact, wildcard, unknown and absent names get the default)', async () => {
    const byName = async (servername?: string) => {
      const s = await hello(port, servername ? { servername } : {});
      const subject = s.getPeerX509Certificate()!.subject;
      s.destroy();
      return subject;
    };
    expect(await byName('other.test')).toBe('CN=other.test');
    expect(await byName('OTHER.test')).toBe('CN=other.test');
    expect(await byName('a.wild.test')).toBe('CN=*.wild.test');
    expect(await byName('a.b.wild.test')).toBe('CN=mail.test');
    expect(await byName('unknown.test')).toBe('CN=mail.test');
    expect(await byName()).toBe('CN=mail.test');
  });

  it('refuses TLS 1.1 and 1.0, accepts 1.2 and 1.3', async () => {
    await expect(hello(port, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow();
    const s12 = await hello(port, { maxVersion: 'TLSv1.2' });
    expect(s12.getProtocol()).toBe('TLSv1.2');
    expect(s12.getCipher().name).toMatch(/^ECDHE-(ECDSA|RSA)-(AES\d+-GCM|CHACHA20)/);
    s12.destroy();
    const s13 = await hello(port);
    expect(s13.getProtocol()).toBe('TLSv1.3');
    s13.destroy();
  });

  it('honours the server cipher order (TLS 1.2), with and without SNI', async () => {
    for (const servername of [undefined, 'other.test']) {
      const s = await new Promise<TLSSocket>((resolve, reject) => {
        const c = connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256' });
        c.once('secureConnect', () => resolve(c));
        c.once('error', reject);
      });
      expect(s.getCipher().name).toBe('ECDHE-ECDSA-AES128-GCM-SHA256');
      s.destroy();
    }
  });

  it('reloads on file change: new handshakes see the new certificate, an open session goes on', async () => {
    const before = await hello(port);
    const oldFp = fp(before);
    const reloaded = new Promise<void>((r) => {
      const off = store.onReload(() => {
        off();
        r();
      });
    });
    writePair('default', ['mail.test', '127.0.0.1']);
    await reloaded;
    const after = await hello(port);
    const newFp = fp(after);
    expect(newFp).not.toBe(oldFp);
    expect(store.info().find((i) => i.name === 'default')!.fingerprint).toBe(newFp);
    // The session from before the rotation still carries data both ways.
    const echoed = new Promise<string>((r) => before.once('data', (d: Buffer) => r(d.toString())));
    before.write('still here');
    expect(await echoed).toBe('still here');
    before.destroy();
    after.destroy();
  });

  it('keeps the old context when the new files do not match, and SIGHUP reloads', async () => {
    const cur = store.info().find((i) => i.name === 'default')!.fingerprint;
    const other = createSelfSignedCertificate({ names: ['x.test'] });
    writeFileSync(join(dir, 'default.key'), other.key); // key without its certificate yet
    expect(store.reload('test')).toBe(false);
    const s = await hello(port);
    expect(fp(s)).toBe(cur);
    s.destroy();
    writeFileSync(join(dir, 'default.crt'), other.cert);
    const reloaded = new Promise<void>((r) => {
      const off = store.onReload(() => {
        off();
        r();
      });
    });
    process.kill(process.pid, 'SIGHUP');
    await reloaded;
    const s2 = await hello(port);
    expect(s2.getPeerX509Certificate()!.subject).toBe('CN=x.test');
    s2.destroy();
  });
});

describe('configuration', () => {
  it('parses TLS_SNI_CERTS in both forms', () => {
    expect(parseSniCerts('a.test=/c/a.crt:/c/a.key, *.b.test=/c/b.crt:/c/b.key')).toEqual({
      'a.test': { certFile: '/c/a.crt', keyFile: '/c/a.key' },
      '*.b.test': { certFile: '/c/b.crt', keyFile: '/c/b.key' },
    });
    expect(parseSniCerts('{"A.test":{"cert":"/a.crt","key":"/a.key"}}')).toEqual({ 'a.test': { certFile: '/a.crt', keyFile: '/a.key' } });
    expect(() => parseSniCerts('nonsense')).toThrow(/host=cert-file:key-file/);
  });
  it('production refuses to start without a certificate; development runs without TLS', () => {
    const base = { TLS_CERT_FILE: '', TLS_KEY_FILE: '', TLS_SNI_CERTS: {}, TLS_RELOAD_POLL_MS: 0 };
    expect(() => certificateStoreFromConfig({ ...base, NODE_ENV: 'production' })).toThrow(/required when NODE_ENV=production/);
    expect(certificateStoreFromConfig({ ...base, NODE_ENV: 'development' })).toBeNull();
    expect(() => certificateStoreFromConfig({ ...base, NODE_ENV: 'production', TLS_CERT_FILE: '/nonexistent.crt', TLS_KEY_FILE: '/nonexistent.key' })).toThrow(/ENOENT/);
    // Development with configured but absent files: a self-signed stand-in for the names given.
    const dev = certificateStoreFromConfig({ ...base, NODE_ENV: 'development', TLS_CERT_FILE: '/nonexistent.crt', TLS_KEY_FILE: '/nonexistent.key' }, undefined, { selfSignedNames: ['dev.test'] });
    expect(dev!.info()[0]!.subject).toBe('CN=dev.test');
  });
});

describe('createSelfSignedCertificate: DER', () => {
  it('every certificate parses, whatever the random serial (one in 128 starts with a zero byte, which DER must drop)', () => {
    for (let i = 0; i < 1000; i++) {
      const { cert } = createSelfSignedCertificate({ names: ['der.test'] });
      // createSelfSignedCertificate parses its own output and throws on bad DER; the serial is positive and minimal.
      expect(new X509Certificate(cert).serialNumber).not.toMatch(/^00[0-7]/);
    }
  }, 120_000);
});
