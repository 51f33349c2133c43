export * from './graceful-shutdown';
export * from './root-logger';
export * from './local-certificate-authority';
