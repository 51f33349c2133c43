import { Injectable } from '@nestjs/common';
import { apiKeySecretMatches, parseApiKey } from '@beecastle/auth';
import { ROLE_PERMISSIONS, roleWithin } from '@beecastle/domain';
import type { FastifyRequest } from 'fastify';
import { ApiKeyUsageRecorder } from '../api-keys/api-key-usage.recorder';
import type { AuthContext } from '../auth-context';
import { bearerCredential } from '../bearer-credential';
import { PrincipalLookups } from '../principal-lookups';

/**
 * API keys (`bck_…`). The key names its organisation and id, so its row is read under that
 * organisation's row-level security, in one round trip with its creator's live membership. It
 * authenticates when the secret matches (constant time), it is neither revoked nor expired, and
 * its creator is still an active member whose role still covers the key's: a key never outlives
 * or outranks the person who made it. Called by ApiKeyAuthGuard directly, not through passport:
 * a custom strategy gains nothing from it but per-request closures and objects.
 */
@Injectable()
export class ApiKeyStrategy {
  constructor(
    private readonly lookups: PrincipalLookups,
    private readonly usage: ApiKeyUsageRecorder,
  ) {}

  async validate(req: FastifyRequest): Promise<AuthContext | null> {
    const credential = bearerCredential(req);
    const parsed = credential === undefined ? undefined : parseApiKey(credential);
    if (!parsed) return null;
    const { organisationId, apiKeyId } = parsed;
    const key = await this.lookups.apiKey({ organisationId, apiKeyId });
    if (!key || !apiKeySecretMatches(parsed, key.secretHash)) return null;
    if (key.revoked || key.expired) return null;
    const creator = key.creator;
    if (!creator?.active || !roleWithin(key.role, creator.role)) return null;
    this.usage.noteUse(organisationId, apiKeyId, key.lastUsedAt);
    return {
      organisationId,
      // Changes made with a key are the key's: the actor is the key, not its creator.
      actor: { type: 'api_key', id: apiKeyId },
      role: key.role,
      permissions: ROLE_PERMISSIONS[key.role],
      userId: key.createdBy,
      apiKeyId,
      profile: {
        user: { id: key.createdBy, email: creator.email, name: creator.name },
        organisation: { id: organisationId, name: key.organisationName },
        apiKey: { id: apiKeyId, name: key.name },
      },
    };
  }
}
