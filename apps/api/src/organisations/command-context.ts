import type { Actor } from '@beecastle/domain';

/**
 * Who asks for a change, in which organisation, and where the request came from: what every
 * event's envelope records. Built from the verified AuthContext (HTTP) or by the CLI (system).
 */
export interface CommandContext {
  readonly organisationId: string;
  readonly actor: Actor;
  readonly requestId?: string;
  readonly clientIp?: string;
  /** The request or operation this change is part of; defaults to the request id. */
  readonly correlationId?: string;
  /** The message that caused this one, when a change follows from another. */
  readonly causationId?: string;
}

/** The context of an HTTP request: actor and organisation from the verified credential only. */
export function commandContext(
  auth: { readonly organisationId: string; readonly actor: Actor },
  origin: { readonly requestId: string; readonly clientIp?: string },
): CommandContext {
  return {
    organisationId: auth.organisationId,
    actor: auth.actor,
    requestId: origin.requestId,
    clientIp: origin.clientIp,
  };
}
