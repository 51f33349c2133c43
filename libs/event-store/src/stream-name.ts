import { InvalidStreamNameError } from './errors';

/**
 * Stream names carry the organisation: `<category>-<organisationId>.<id>`, for example
 * `contact-<orgId>.<contactId>` or `organisation-<orgId>.<orgId>`. Organisation and id are UUIDs.
 */
const STREAM_NAME =
  /^([a-z][a-zA-Z0-9]*)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{1,64})$/;

export interface StreamName {
  readonly category: string;
  readonly organisationId: string;
  readonly id: string;
}

export function parseStreamName(stream: string): StreamName {
  const match = STREAM_NAME.exec(stream);
  if (!match) throw new InvalidStreamNameError(stream);
  return { category: match[1], organisationId: match[2], id: match[3] };
}

export function streamName(category: string, organisationId: string, id: string): string {
  const stream = `${category}-${organisationId}.${id}`;
  parseStreamName(stream);
  return stream;
}
