export * from './event-store.port';
export * from './errors';
export * from './position';
export * from './stream-name';
export * from './hash-chain';
export * from './append-validation';
export * from './upcasting-event-store';
export * from './memory/memory-event-store';
