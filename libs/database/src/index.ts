export * from './database-runtime';
export * from './embedded-postgres';
export * from './keyset-cursor';
export * from './migrate';
export * from './organisation-scope';
export * from './pool';
export * from './provision';
export * from './transaction';
