import type { Actor } from '../shared/actor';
import { DomainError, type DomainErrorCode } from '../shared/domain-error';
import {
  actorRole,
  decideOrganisation,
  evolveOrganisation,
  initialOrganisationState,
  type OrganisationCommand,
} from './organisation';
import type { OrganisationEvent } from './organisation.events';

const ORG = '0b5f6c1e-8d3a-4a8e-9c1b-2f4d6e8a0c12';
const owner: Actor = { type: 'user', id: 'u-owner' };
const admin: Actor = { type: 'user', id: 'u-admin' };
const editor: Actor = { type: 'user', id: 'u-editor' };
const system: Actor = { type: 'system', id: 'cli' };
const now = new Date('2026-11-25T10:00:00Z');

const created: OrganisationEvent[] = [
  { type: 'OrganisationCreated', schemaVersion: 1, data: { organisationId: ORG, name: 'Acme' } },
  { type: 'UserAdded', schemaVersion: 1, data: { userId: owner.id, role: 'owner' } },
  { type: 'UserAdded', schemaVersion: 1, data: { userId: admin.id, role: 'admin' } },
  { type: 'UserAdded', schemaVersion: 1, data: { userId: editor.id, role: 'editor' } },
];

/** given(history).when(command, by actor) → the events decided, or the refusal's code. */
function given(history: readonly OrganisationEvent[]) {
  const state = history.reduce(evolveOrganisation, initialOrganisationState);
  return {
    when(command: OrganisationCommand, actor: Actor, at = now) {
      const decide = () => decideOrganisation(command, state, { actor, now: at });
      return {
        then: (expected: OrganisationEvent[]) => expect(decide()).toEqual(expected),
        thenRefused: (code: DomainErrorCode) => {
          let caught: unknown;
          try {
            decide();
          } catch (error) {
            caught = error;
          }
          expect(caught).toBeInstanceOf(DomainError);
          expect((caught as DomainError).code).toBe(code);
        },
      };
    },
  };
}

const issued = (
  role: 'admin' | 'editor' | 'viewer' | 'owner',
  createdBy: string,
  expiresAt: string | null = null,
): OrganisationEvent => ({
  type: 'ApiKeyIssued',
  schemaVersion: 1,
  data: { apiKeyId: `k-${role}`, name: `${role} key`, role, createdBy, expiresAt },
});

describe('organisation', () => {
  describe('creation', () => {
    it('is an operator’s act and makes the named user its owner', () =>
      given([])
        .when(
          { type: 'CreateOrganisation', organisationId: ORG, name: 'Acme', ownerUserId: 'u-1' },
          system,
        )
        .then([
          {
            type: 'OrganisationCreated',
            schemaVersion: 1,
            data: { organisationId: ORG, name: 'Acme' },
          },
          { type: 'UserAdded', schemaVersion: 1, data: { userId: 'u-1', role: 'owner' } },
        ]));
    it('refuses a user', () =>
      given([])
        .when(
          { type: 'CreateOrganisation', organisationId: ORG, name: 'Acme', ownerUserId: 'u-1' },
          owner,
        )
        .thenRefused('FORBIDDEN'));
    it('refuses a second creation', () =>
      given(created)
        .when(
          { type: 'CreateOrganisation', organisationId: ORG, name: 'Again', ownerUserId: 'u-1' },
          system,
        )
        .thenRefused('ALREADY_EXISTS'));
    it('refuses a blank name', () =>
      given([])
        .when(
          { type: 'CreateOrganisation', organisationId: ORG, name: '  ', ownerUserId: 'u-1' },
          system,
        )
        .thenRefused('VALIDATION_FAILED'));
    it('answers commands on a missing organisation with NOT_FOUND', () =>
      given([])
        .when({ type: 'AddUser', userId: 'u-9', role: 'viewer' }, owner)
        .thenRefused('NOT_FOUND'));
  });

  describe('members', () => {
    it('lets an admin add an editor', () =>
      given(created)
        .when({ type: 'AddUser', userId: 'u-new', role: 'editor' }, admin)
        .then([
          { type: 'UserAdded', schemaVersion: 1, data: { userId: 'u-new', role: 'editor' } },
        ]));
    it('refuses an admin granting owner, on add and on change', () => {
      given(created)
        .when({ type: 'AddUser', userId: 'u-new', role: 'owner' }, admin)
        .thenRefused('FORBIDDEN');
      given(created)
        .when({ type: 'ChangeUserRole', userId: editor.id, role: 'owner' }, admin)
        .thenRefused('FORBIDDEN');
    });
    it('refuses an admin removing an owner’s role or deactivating an owner', () => {
      given([
        ...created,
        { type: 'UserAdded', schemaVersion: 1, data: { userId: 'u-owner2', role: 'owner' } },
      ])
        .when({ type: 'ChangeUserRole', userId: 'u-owner2', role: 'viewer' }, admin)
        .thenRefused('FORBIDDEN');
      given(created)
        .when({ type: 'DeactivateUser', userId: owner.id }, admin)
        .thenRefused('FORBIDDEN');
    });
    it('refuses an editor managing users', () =>
      given(created)
        .when({ type: 'AddUser', userId: 'u-new', role: 'viewer' }, editor)
        .thenRefused('FORBIDDEN'));
    it('refuses adding an existing member', () =>
      given(created)
        .when({ type: 'AddUser', userId: editor.id, role: 'viewer' }, owner)
        .thenRefused('MEMBER_EXISTS'));
    it('records a role change with before and after', () =>
      given(created)
        .when({ type: 'ChangeUserRole', userId: editor.id, role: 'viewer' }, admin)
        .then([
          {
            type: 'UserRoleChanged',
            schemaVersion: 1,
            data: { userId: editor.id, from: 'editor', to: 'viewer' },
          },
        ]));
    it('decides nothing for a change to the same role', () =>
      given(created)
        .when({ type: 'ChangeUserRole', userId: editor.id, role: 'editor' }, admin)
        .then([]));
    it('keeps the last active owner', () => {
      given(created)
        .when({ type: 'ChangeUserRole', userId: owner.id, role: 'admin' }, owner)
        .thenRefused('LAST_OWNER');
      given(created)
        .when({ type: 'DeactivateUser', userId: owner.id }, owner)
        .thenRefused('LAST_OWNER');
    });
    it('deactivates and reactivates, and a deactivated user loses every permission', () => {
      const deactivated: OrganisationEvent = {
        type: 'UserDeactivated',
        schemaVersion: 1,
        data: { userId: editor.id },
      };
      given(created).when({ type: 'DeactivateUser', userId: editor.id }, admin).then([deactivated]);
      const state = [...created, deactivated].reduce(evolveOrganisation, initialOrganisationState);
      expect(actorRole(state, editor, now)).toBeUndefined();
      given([...created, deactivated])
        .when({ type: 'ReactivateUser', userId: editor.id }, admin)
        .then([{ type: 'UserReactivated', schemaVersion: 1, data: { userId: editor.id } }]);
    });
    it('refuses a deactivated admin', () =>
      given([...created, { type: 'UserDeactivated', schemaVersion: 1, data: { userId: admin.id } }])
        .when({ type: 'AddUser', userId: 'u-new', role: 'viewer' }, admin)
        .thenRefused('FORBIDDEN'));
    it('answers an unknown user with NOT_FOUND', () =>
      given(created)
        .when({ type: 'DeactivateUser', userId: 'u-nobody' }, owner)
        .thenRefused('NOT_FOUND'));
  });

  describe('API keys', () => {
    it('lets an admin issue a key up to its own role', () =>
      given(created)
        .when(
          {
            type: 'IssueApiKey',
            apiKeyId: 'k-1',
            name: 'CRM sync',
            role: 'editor',
            expiresAt: null,
          },
          admin,
        )
        .then([
          {
            type: 'ApiKeyIssued',
            schemaVersion: 1,
            data: {
              apiKeyId: 'k-1',
              name: 'CRM sync',
              role: 'editor',
              createdBy: admin.id,
              expiresAt: null,
            },
          },
        ]));
    it('refuses a key above its creator’s role', () =>
      given(created)
        .when(
          { type: 'IssueApiKey', apiKeyId: 'k-1', name: 'x', role: 'owner', expiresAt: null },
          admin,
        )
        .thenRefused('FORBIDDEN'));
    it('refuses an expiry in the past', () =>
      given(created)
        .when(
          {
            type: 'IssueApiKey',
            apiKeyId: 'k-1',
            name: 'x',
            role: 'viewer',
            expiresAt: '2026-11-25T09:59:59Z',
          },
          owner,
        )
        .thenRefused('VALIDATION_FAILED'));
    it('refuses a key issuing keys', () =>
      given([...created, issued('admin', owner.id)])
        .when(
          { type: 'IssueApiKey', apiKeyId: 'k-2', name: 'x', role: 'viewer', expiresAt: null },
          { type: 'api_key', id: 'k-admin' },
        )
        .thenRefused('FORBIDDEN'));
    it('gives a key its role, and none once revoked, expired, or its creator is deactivated or demoted', () => {
      const key: Actor = { type: 'api_key', id: 'k-editor' };
      const role = (history: OrganisationEvent[], at = now) =>
        actorRole(history.reduce(evolveOrganisation, initialOrganisationState), key, at);
      expect(role([...created, issued('editor', admin.id)])).toBe('editor');
      expect(
        role([
          ...created,
          issued('editor', admin.id),
          { type: 'ApiKeyRevoked', schemaVersion: 1, data: { apiKeyId: 'k-editor' } },
        ]),
      ).toBeUndefined();
      expect(
        role([...created, issued('editor', admin.id, '2026-11-25T10:00:00Z')]),
      ).toBeUndefined();
      expect(
        role([
          ...created,
          issued('editor', admin.id),
          { type: 'UserDeactivated', schemaVersion: 1, data: { userId: admin.id } },
        ]),
      ).toBeUndefined();
      expect(
        role([
          ...created,
          issued('editor', admin.id),
          {
            type: 'UserRoleChanged',
            schemaVersion: 1,
            data: { userId: admin.id, from: 'admin', to: 'viewer' },
          },
        ]),
      ).toBeUndefined();
    });
    it('lets only an owner revoke an owner key, and revoking twice decides nothing', () => {
      const history = [...created, issued('owner', owner.id)];
      given(history)
        .when({ type: 'RevokeApiKey', apiKeyId: 'k-owner' }, admin)
        .thenRefused('FORBIDDEN');
      given(history)
        .when({ type: 'RevokeApiKey', apiKeyId: 'k-owner' }, owner)
        .then([{ type: 'ApiKeyRevoked', schemaVersion: 1, data: { apiKeyId: 'k-owner' } }]);
      given([
        ...history,
        { type: 'ApiKeyRevoked', schemaVersion: 1, data: { apiKeyId: 'k-owner' } },
      ])
        .when({ type: 'RevokeApiKey', apiKeyId: 'k-owner' }, owner)
        .then([]);
    });
  });
});
