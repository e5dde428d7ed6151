export * from './address.ts';
export * from './ids.ts';
export * from './resolve.ts';
export * from './tlsrpt.ts';
