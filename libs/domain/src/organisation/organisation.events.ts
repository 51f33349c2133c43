import type { Role } from '../access/permissions';

/**
 * What happens in an organisation's life, in its stream `organisation-<orgId>.<orgId>`. The `type`
 * strings are stored forever: never rename one; change a shape by adding a schema version and an
 * upcaster. A member's email and display name are here (payloads are encrypted at rest, and a user's
 * details can be shredded with their key); passwords never are: credentials live in the `users`
 * table, and an API key's secret only as a SHA-256 hash of 256 random bits.
 */
export type OrganisationEvent =
  | {
      readonly type: 'OrganisationCreated';
      readonly schemaVersion: 1;
      readonly data: { readonly organisationId: string; readonly name: string };
    }
  | {
      readonly type: 'OrganisationRenamed';
      readonly schemaVersion: 1;
      readonly data: { readonly name: string };
    }
  | {
      readonly type: 'UserAdded';
      readonly schemaVersion: 1;
      readonly data: {
        readonly userId: string;
        readonly email: string;
        readonly name: string;
        readonly role: Role;
      };
    }
  | {
      readonly type: 'UserRenamed';
      readonly schemaVersion: 1;
      readonly data: { readonly userId: string; readonly name: string };
    }
  | {
      readonly type: 'UserRoleChanged';
      readonly schemaVersion: 1;
      readonly data: { readonly userId: string; readonly from: Role; readonly to: Role };
    }
  | {
      readonly type: 'UserDeactivated';
      readonly schemaVersion: 1;
      readonly data: { readonly userId: string };
    }
  | {
      readonly type: 'UserReactivated';
      readonly schemaVersion: 1;
      readonly data: { readonly userId: string };
    }
  | {
      readonly type: 'ApiKeyIssued';
      readonly schemaVersion: 1;
      readonly data: {
        readonly apiKeyId: string;
        readonly name: string;
        readonly role: Role;
        readonly createdBy: string;
        readonly expiresAt: string | null;
        /** Hex SHA-256 of the secret, which is shown once and stored nowhere else. */
        readonly secretHash: string;
      };
    }
  | {
      readonly type: 'ApiKeyRevoked';
      readonly schemaVersion: 1;
      readonly data: { readonly apiKeyId: string };
    };

export type OrganisationEventType = OrganisationEvent['type'];
