export * from './checkpoint-store';
export * from './projection';
export * from './projection-runner';
export * from './projections';
export * from './projector';
export * from './access';
export * from './contacts';
export * from './checkpoint-wait';
