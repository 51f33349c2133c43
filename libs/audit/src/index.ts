export * from './request-log-entry';
export * from './request-log-writer';
export * from './request-log-query';
