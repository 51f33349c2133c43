export * from './configuration';
export * from './auth-settings';
