import { isIP } from 'node:net';

/**
 * One inbound request as the request log keeps it (ARCHITECTURE §6). Every field is a value the
 * server decided or measured; nothing the caller sent is copied except the method and, when it
 * is well-formed, the request id. No header, query string or body can reach it.
 */
export interface RequestLogEntry {
  /** When the request arrived (UTC). */
  readonly at: Date;
  readonly requestId: string;
  /** As the HTTP server resolved it: forwarded headers only from TRUSTED_PROXIES. */
  readonly clientIp: string | undefined;
  readonly method: string;
  /** The matched route template (`/v1/users/:id`); absent when no route matched. */
  readonly route: string | undefined;
  readonly status: number;
  readonly latencyMs: number;
  /** From the verified credential only; absent for public and rejected-before-auth requests. */
  readonly organisationId: string | undefined;
  /** The signed-in user (absent for an API key: the key is the actor). */
  readonly userId: string | undefined;
  readonly apiKeyId: string | undefined;
}

/** Where finished requests go; must return at once and never throw. */
export interface RequestLogSink {
  record(entry: RequestLogEntry): void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID in the lower case the tables and withOrganisation expect, or undefined. */
export function uuidOrUndefined(value: string | undefined): string | undefined {
  return value !== undefined && UUID.test(value) ? value.toLowerCase() : undefined;
}

/**
 * An address PostgreSQL's inet accepts, or undefined. IPv4 clients of a dual-stack listener
 * appear as `::ffff:a.b.c.d`; they are stored as the IPv4 address so that `?ip=a.b.c.d` finds them.
 */
export function normaliseClientIp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(value);
  const address = mapped ? mapped[1] : value;
  return isIP(address) === 0 ? undefined : address.toLowerCase();
}
