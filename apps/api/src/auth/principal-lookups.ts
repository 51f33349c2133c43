import { Inject, Injectable } from '@nestjs/common';
import {
  BatchedLookup,
  lookUpApiKeys,
  lookUpSessionPrincipals,
  type ApiKeyLookupKey,
  type ApiKeyRecord,
  type SessionPrincipal,
  type SessionPrincipalKey,
} from '@beecastle/auth';
import type { Pool } from 'pg';
import { APP_POOL } from '../database/database.module';

/**
 * The per-request database checks of both strategies, batched: requests authenticating in the
 * same turn of the event loop share one round trip (each still answered from its own
 * organisation's rows), and those presenting the same key or session share its one lookup in it.
 * Never a cache: every request reads the state as of a lookup that began after it asked.
 */
@Injectable()
export class PrincipalLookups {
  private readonly sessions: BatchedLookup<SessionPrincipalKey, SessionPrincipal | undefined>;
  private readonly apiKeys: BatchedLookup<ApiKeyLookupKey, ApiKeyRecord | undefined>;

  constructor(@Inject(APP_POOL) pool: Pool) {
    this.sessions = new BatchedLookup(
      (keys) => lookUpSessionPrincipals(pool, keys),
      (key) => `${key.organisationId}/${key.userId}/${key.sessionId}`,
    );
    this.apiKeys = new BatchedLookup(
      (keys) => lookUpApiKeys(pool, keys),
      (key) => `${key.organisationId}/${key.apiKeyId}`,
    );
  }

  session(key: SessionPrincipalKey): Promise<SessionPrincipal | undefined> {
    return this.sessions.load(key);
  }

  apiKey(key: ApiKeyLookupKey): Promise<ApiKeyRecord | undefined> {
    return this.apiKeys.load(key);
  }
}
