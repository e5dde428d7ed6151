export * from './infra.ts';
export * from './tcp-proxy.ts';
export * from './process.ts';
export * from './private-redis.ts';
export * from './fake-dns.ts';
export * from './fake-mx.ts';
export * from './dkimpy.ts';
export * from './rspamd.ts';
