// The TLS keys every TLS-speaking service spreads into its own zod schema, and the one
// function that turns them into a CertificateStore (or refuses, in production).

import { int, str, z } from '@hopmail/config';
import type { Logger } from 'pino';
import { createCertificateStore, type CertificateFiles, type CertificateStore } from './certificate-store.ts';

/**
 * `host=cert:key` entries separated by commas or whitespace, or a JSON object
 * `{"host": {"cert": "...", "key": "..."}}`. Host names may be `*.example.org`.
 */
export function parseSniCerts(value: string): Record<string, CertificateFiles> {
  const v = value.trim();
  if (!v) return {};
  const out: Record<string, CertificateFiles> = {};
  if (v.startsWith('{')) {
    const parsed = z.record(z.string(), z.object({ cert: z.string().min(1), key: z.string().min(1) })).parse(JSON.parse(v));
    for (const [h, p] of Object.entries(parsed)) out[h.toLowerCase()] = { certFile: p.cert, keyFile: p.key };
    return out;
  }
  for (const entry of v.split(/[\s,]+/).filter(Boolean)) {
    const m = /^([A-Za-z0-9*][A-Za-z0-9.*-]*)=([^:]+):(.+)$/.exec(entry);
    if (!m) throw new Error(`TLS_SNI_CERTS entry ${JSON.stringify(entry)} is not host=cert-file:key-file`);
    out[m[1]!.toLowerCase()] = { certFile: m[2]!, keyFile: m[3]! };
  }
  return out;
}

const sniCerts = z
  .string()
  .default('')
  .transform((v, ctx) => {
    try {
      return parseSniCerts(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  })
  .describe('extra certificates chosen by SNI: `host=cert:key` entries (comma-separated), or JSON {"host":{"cert":…,"key":…}}; `*.example.org` allowed');

/** Spread into a service's schema: `z.object({ ...commonConfig, ...tlsConfig, … })`. */
export const tlsConfig = {
  TLS_CERT_FILE: str('', 'PEM certificate chain (leaf first); reloaded when it changes. Empty: no TLS in development, refused in production'),
  TLS_KEY_FILE: str('', 'PEM private key of TLS_CERT_FILE; reloaded with it'),
  TLS_SNI_CERTS: sniCerts,
  TLS_RELOAD_POLL_MS: int(30_000, 0, 86_400_000, 'also re-read the certificate files this often (fs.watch misses some mounts); 0 disables polling'),
} as const;

export interface TlsConfigValues {
  NODE_ENV: 'development' | 'production' | 'test';
  TLS_CERT_FILE: string;
  TLS_KEY_FILE: string;
  TLS_SNI_CERTS: Record<string, CertificateFiles>;
  TLS_RELOAD_POLL_MS: number;
}

export class TlsConfigError extends Error {
  readonly code = 'tls.not-configured';
  constructor(message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

/**
 * The store for a service's config, already loaded (throws if a file cannot be read), not
 * yet watching (call `.watch()` in start()). Null when no certificate is configured outside
 * production: the service then runs without TLS and says so. In production a missing
 * certificate throws TlsConfigError; outside production, configured files that do not exist
 * are replaced by an in-memory self-signed certificate for `selfSignedNames` (the files are
 * picked up once they appear).
 */
export function certificateStoreFromConfig(config: TlsConfigValues, logger?: Logger, opts: { selfSignedNames?: string[] } = {}): CertificateStore | null {
  const hasCert = config.TLS_CERT_FILE !== '' || config.TLS_KEY_FILE !== '';
  if (!hasCert) {
    if (config.NODE_ENV === 'production') throw new TlsConfigError('TLS_CERT_FILE and TLS_KEY_FILE are required when NODE_ENV=production');
    logger?.warn({ event: 'tls.disabled' }, 'no TLS_CERT_FILE/TLS_KEY_FILE: TLS is off (development only); `pnpm start` creates a self-signed pair');
    return null;
  }
  if (!config.TLS_CERT_FILE || !config.TLS_KEY_FILE) throw new TlsConfigError('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
  const store = createCertificateStore({
    certFile: config.TLS_CERT_FILE,
    keyFile: config.TLS_KEY_FILE,
    sni: config.TLS_SNI_CERTS,
    pollIntervalMs: config.TLS_RELOAD_POLL_MS,
    logger,
    // Outside production a configured but absent pair (compose without ./certs) is no reason
    // not to start: an in-memory self-signed certificate stands in until the files appear.
    selfSignedFallback: config.NODE_ENV === 'production' ? undefined : (opts.selfSignedNames ?? ['localhost', '127.0.0.1', '::1']),
  });
  for (const i of store.info()) logger?.info({ event: 'tls.loaded', certificate: i.name, fingerprint: i.fingerprint, subject: i.subject, validTo: i.validTo }, 'certificate loaded');
  return store;
}
