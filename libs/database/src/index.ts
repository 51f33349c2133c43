export * from './database-runtime';
export * from './embedded-postgres';
export * from './migrate';
export * from './organisation-scope';
export * from './pool';
export * from './provision';
export * from './transaction';
