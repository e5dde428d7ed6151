export * from './types.ts';
export * from './record.ts';
export * from './stream.ts';
export * from './outbox.ts';
export * from './destination.ts';
export * from './webhook-post.ts';
