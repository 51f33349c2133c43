export * from './access.projection';
export * from './organisation-event-codec';
