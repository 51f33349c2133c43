/**
 * The channel appends notify at commit, with the organisation as payload. Each store listens on it
 * with one session shared by all its subscriptions (ChannelListener); subscriptions poll as well,
 * so a missing listener only costs latency, never events.
 */
export const EVENTS_CHANNEL = 'beecastle_events';

/** Called with the organisation an append notified, or `undefined` for "anything may have changed". */
export type WakeHandler = (organisationId: string | undefined) => void;
