export * from './access/permissions';
export * from './organisation/organisation';
export * from './organisation/organisation.events';
export * from './platform/platform.events';
export * from './shared/actor';
export * from './shared/domain-error';
