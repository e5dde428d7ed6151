export * from './logger.ts';
export * from './metrics.ts';
export * from './health.ts';
export * from './run.ts';
export * from './errors.ts';
export * from './listen.ts';
