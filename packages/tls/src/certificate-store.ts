// One process's certificates: the default pair (TLS_CERT_FILE/TLS_KEY_FILE) and any SNI
// pairs, each turned into a tls.SecureContext. Reloading swaps the contexts that *new*
// handshakes pick (getSecureContext / SNICallback); sockets already established keep
// theirs, so renewals by certbot or cert-manager drop no session.

import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContext, type Server, type TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { createSelfSignedCertificate } from './self-signed.ts';

/**
 * TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0/1.1; RFC 8314 §4.1). TLS 1.3 suites first,
 * then Mozilla's "intermediate" TLS 1.2 list: ECDHE + AEAD only, no CBC, no RSA key exchange.
 * The server's order wins (honorCipherOrder).
 */
export const TLS_MIN_VERSION = 'TLSv1.2' as const;
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Options every context and every server socket gets. */
export const TLS_SERVER_OPTIONS = {
  minVersion: TLS_MIN_VERSION,
  ciphers: TLS_CIPHERS,
  honorCipherOrder: true,
  ecdhCurve: 'X25519:prime256v1:secp384r1',
} as const satisfies TlsOptions;

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export interface CertificateStoreOptions extends CertificateFiles {
  /** Host name (exact, or `*.example.org`) → its own pair. Unknown names get the default pair. */
  sni?: Record<string, CertificateFiles>;
  logger?: Logger;
  /** Re-read the files this often even without a file-system event (0: never). Default 30 s. */
  pollIntervalMs?: number;
  /** Wait this long after a change event before reloading (renewals write several files). Default 250 ms. */
  debounceMs?: number;
  /**
   * Development only: while the default pair's files do not exist, serve an in-memory
   * self-signed certificate for these names instead of failing; the files are picked up
   * by the next reload once they appear.
   */
  selfSignedFallback?: string[];
}

export interface CertificateInfo {
  /** `default` or the SNI host name. */
  name: string;
  /** SHA-256 fingerprint, colon-separated hex (X509Certificate#fingerprint256). */
  fingerprint: string;
  subject: string;
  validTo: string;
}

export interface CertificateStore {
  /** The context for a new handshake: the SNI match for `servername`, else the default. */
  getSecureContext(servername?: string): SecureContext;
  /** For tls.createServer / new tls.TLSSocket / smtp-server: `SNICallback: store.SNICallback`. */
  SNICallback(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void;
  /**
   * For `tls.createServer(store.serverOptions(), …)`: the defaults above, the current
   * default pair and SNICallback. Call `attach(server)` too, or clients that send no SNI
   * keep the pair the server was created with.
   */
  serverOptions(): TlsOptions;
  /** Keeps a tls.Server's default context current (server.setSecureContext on each reload). Returns a detach function. */
  attach(server: Server): () => void;
  /**
   * For `new tls.TLSSocket(socket, { isServer: true, ...store.socketOptions() })` (STARTTLS,
   * STLS, implicit TLS on an accepted net.Socket): the current default context and
   * SNICallback. Take it per connection, not once.
   */
  socketOptions(): { secureContext: SecureContext; SNICallback: CertificateStore['SNICallback'] } & typeof TLS_SERVER_OPTIONS;
  /** The certificates in use now. */
  info(): CertificateInfo[];
  /**
   * Re-reads every file now. A pair that fails to load (half-written renewal, key and
   * certificate not matching) keeps the previous context and is retried at the next event
   * or poll. Returns true when some context changed.
   */
  reload(reason?: string): boolean;
  /** Called after each reload that changed something. */
  onReload(listener: (info: CertificateInfo[]) => void): () => void;
  /** Starts fs.watch on the files' folders, the poll timer and a SIGHUP handler. */
  watch(): void;
  /** Stops watching. Established sessions are not affected. */
  close(): void;
}

interface Loaded {
  ctx: SecureContext;
  cert: Buffer;
  key: Buffer;
  digest: string;
  info: CertificateInfo;
}

function load(name: string, f: CertificateFiles): Loaded {
  const cert = readFileSync(f.certFile);
  const key = readFileSync(f.keyFile);
  const x = new X509Certificate(cert);
  if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error(`${f.keyFile} is not the key of ${f.certFile}`);
  const ctx = createSecureContext({ cert, key, ...TLS_SERVER_OPTIONS });
  const digest = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
  return { ctx, cert, key, digest, info: { name, fingerprint: x.fingerprint256, subject: x.subject, validTo: x.validTo } };
}

/** Matches `mail.example.org` and `*.example.org` (one label, RFC 6125 §6.4.3). */
function lookup<T>(map: Map<string, T>, servername: string): T | undefined {
  const name = servername.toLowerCase().replace(/\.$/, '');
  const exact = map.get(name);
  if (exact) return exact;
  const dot = name.indexOf('.');
  return dot > 0 ? map.get(`*${name.slice(dot)}`) : undefined;
}

/** Loads every pair now (throws if one cannot be loaded: a bad configuration fails at start). */
export function createCertificateStore(options: CertificateStoreOptions): CertificateStore {
  const pollMs = options.pollIntervalMs ?? 30_000;
  const debounceMs = options.debounceMs ?? 250;
  const pairs = new Map<string, CertificateFiles>([['default', { certFile: options.certFile, keyFile: options.keyFile }]]);
  for (const [host, files] of Object.entries(options.sni ?? {})) pairs.set(host.toLowerCase(), files);
  const loaded = new Map<string, Loaded>();
  const fallback = (name: string, err: unknown): Loaded | null => {
    if (name !== 'default' || !options.selfSignedFallback || (err as NodeJS.ErrnoException).code !== 'ENOENT') return null;
    const { cert, key } = createSelfSignedCertificate({ names: options.selfSignedFallback });
    const x = new X509Certificate(cert);
    options.logger?.warn({ event: 'tls.self-signed', certFile: options.certFile, fingerprint: x.fingerprint256 }, 'certificate files missing: serving an in-memory self-signed certificate (development only)');
    return {
      ctx: createSecureContext({ cert, key, ...TLS_SERVER_OPTIONS }),
      cert: Buffer.from(cert),
      key: Buffer.from(key),
      digest: 'self-signed',
      info: { name, fingerprint: x.fingerprint256, subject: x.subject, validTo: x.validTo },
    };
  };
  for (const [name, files] of pairs) {
    try {
      loaded.set(name, load(name, files));
    } catch (err) {
      const f = fallback(name, err);
      if (!f) throw err;
      loaded.set(name, f);
    }
  }
  const sni = new Map<string, Loaded>([...loaded].filter(([n]) => n !== 'default'));
  const listeners = new Set<(info: CertificateInfo[]) => void>();
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let sighup: (() => void) | undefined;

  const info = () => [...loaded.values()].map((l) => l.info);

  const store: CertificateStore = {
    getSecureContext(servername) {
      const l = (servername && lookup(sni, servername)) || loaded.get('default')!;
      return l.ctx;
    },
    SNICallback(servername, cb) {
      cb(null, store.getSecureContext(servername));
    },
    serverOptions() {
      const d = loaded.get('default')!;
      return { ...TLS_SERVER_OPTIONS, cert: d.cert, key: d.key, SNICallback: store.SNICallback };
    },
    attach(server) {
      return store.onReload(() => {
        const d = loaded.get('default')!;
        server.setSecureContext({ ...TLS_SERVER_OPTIONS, cert: d.cert, key: d.key });
      });
    },
    socketOptions() {
      return { ...TLS_SERVER_OPTIONS, secureContext: store.getSecureContext(), SNICallback: store.SNICallback };
    },
    info,
    reload(reason = 'manual') {
      let changed = false;
      for (const [name, files] of pairs) {
        try {
          const next = load(name, files);
          if (next.digest === loaded.get(name)?.digest) continue;
          loaded.set(name, next);
          if (name !== 'default') sni.set(name, next);
          changed = true;
          options.logger?.info({ event: 'tls.reloaded', certificate: name, reason, fingerprint: next.info.fingerprint, validTo: next.info.validTo }, 'certificate reloaded');
        } catch (err) {
          if (loaded.get(name)?.digest === 'self-signed' && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          options.logger?.warn({ event: 'tls.reload-failed', certificate: name, reason, certFile: files.certFile, err: (err as Error).message }, 'certificate not reloaded; the previous one stays in use');
        }
      }
      if (changed) for (const l of listeners) l(info());
      return changed;
    },
    onReload(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    watch() {
      if (timer || watchers.length) return;
      const schedule = () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => store.reload('file-changed'), debounceMs);
        debounce.unref();
      };
      // Folders rather than files: renewals replace files by rename (certbot) or swap a
      // symlinked folder (Kubernetes Secrets), which a watch on the old inode never sees.
      const dirs = new Set([...pairs.values()].flatMap((f) => [dirname(f.certFile), dirname(f.keyFile)]));
      for (const d of dirs) {
        try {
          const w = watch(d, { persistent: false }, schedule);
          w.on('error', () => {}); // the poll below still covers this folder
          watchers.push(w);
        } catch (err) {
          options.logger?.warn({ event: 'tls.watch-failed', dir: d, err: (err as Error).message }, 'cannot watch certificate folder; polling only');
        }
      }
      // fs.watch misses changes on network file systems and some container mounts.
      if (pollMs > 0) {
        timer = setInterval(() => store.reload('poll'), pollMs);
        timer.unref();
      }
      sighup = () => store.reload('SIGHUP');
      process.on('SIGHUP', sighup);
    },
    close() {
      for (const w of watchers.splice(0)) w.close();
      clearInterval(timer);
      clearTimeout(debounce);
      timer = undefined;
      if (sighup) process.off('SIGHUP', sighup);
      sighup = undefined;
    },
  };
  return store;
}
