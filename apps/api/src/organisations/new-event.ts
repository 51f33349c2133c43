import { randomUUID } from 'node:crypto';
import type { NewEvent } from '@beecastle/event-store';
import type { CommandContext } from './command-context';

/**
 * A decided event in its envelope: the encoded data, and who, in which organisation, from which
 * request. One definition for every stream, so the audit trail reads the same whatever changed.
 */
export function toNewEvent(
  event: { readonly type: string; readonly schemaVersion: number },
  data: Uint8Array,
  context: CommandContext,
): NewEvent {
  const { organisationId, actor, requestId, clientIp, causationId } = context;
  const correlationId = context.correlationId ?? requestId;
  return {
    eventId: randomUUID(),
    type: event.type,
    schemaVersion: event.schemaVersion,
    data,
    metadata: {
      organisationId,
      actorId: actor.id,
      actorType: actor.type,
      ...(requestId === undefined ? {} : { requestId }),
      ...(correlationId === undefined ? {} : { correlationId }),
      ...(causationId === undefined ? {} : { causationId }),
      ...(clientIp === undefined ? {} : { clientIp }),
    },
  };
}
