export * from './graceful-shutdown';
export * from './root-logger';
