export * from './pool.ts';
export * from './migrate.ts';
export * from './directory.ts';
export * from './messages.ts';
export * from './group-commit.ts';
export * from './batcher.ts';
export * from './locks.ts';
export * from './durability.ts';
