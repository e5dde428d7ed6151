// @hopmail/tls — certificates for every TLS listener (README.md has the API).
export {
  createCertificateStore,
  TLS_CIPHERS,
  TLS_MIN_VERSION,
  TLS_SERVER_OPTIONS,
  type CertificateFiles,
  type CertificateInfo,
  type CertificateStore,
  type CertificateStoreOptions,
} from './certificate-store.ts';
export { certificateStoreFromConfig, parseSniCerts, tlsConfig, TlsConfigError, type TlsConfigValues } from './config.ts';
export { createSelfSignedCertificate, ensureDevCertificate, type SelfSignedOptions } from './self-signed.ts';
