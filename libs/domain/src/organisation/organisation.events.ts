import type { Role } from '../access/permissions';

/**
 * What happens in an organisation's life, in its stream `organisation-<orgId>.<orgId>`. The `type`
 * strings are stored forever: never rename one; change a shape by adding a schema version and an
 * upcaster. Users' credentials and profiles are not here: secrets and personal details do not
 * belong in an immutable log.
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
      readonly data: { readonly userId: string; readonly role: Role };
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
      };
    }
  | {
      readonly type: 'ApiKeyRevoked';
      readonly schemaVersion: 1;
      readonly data: { readonly apiKeyId: string };
    };

export type OrganisationEventType = OrganisationEvent['type'];
