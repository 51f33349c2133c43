export * from './contact-event-codec';
export * from './contact-search';
export * from './contacts.projection';
