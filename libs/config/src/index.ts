export * from './configuration';
export * from './auth-settings';
export * from './database-tls';
