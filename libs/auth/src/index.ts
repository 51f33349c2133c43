export * from './password-hasher';
export * from './password-policy';
export * from './api-key-secret';
