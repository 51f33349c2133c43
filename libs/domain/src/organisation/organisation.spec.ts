import type { Role } from '../access/permissions';
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
const HASH = 'a'.repeat(64);

const added = (userId: string, role: Role, name = userId): OrganisationEvent => ({
  type: 'UserAdded',
  schemaVersion: 1,
  data: { userId, email: `${userId}@example.com`, name, role },
});

const created: OrganisationEvent[] = [
  { type: 'OrganisationCreated', schemaVersion: 1, data: { organisationId: ORG, name: 'Acme' } },
  added(owner.id, 'owner'),
  added(admin.id, 'admin'),
  added(editor.id, 'editor'),
];

const create = (
  overrides: Partial<Extract<OrganisationCommand, { type: 'CreateOrganisation' }>> = {},
): OrganisationCommand => ({
  type: 'CreateOrganisation',
  organisationId: ORG,
  name: 'Acme',
  ownerUserId: 'u-1',
  ownerEmail: 'ada@example.com',
  ownerName: 'Ada',
  ...overrides,
});

const addUser = (
  userId: string,
  role: Role,
  email = `${userId}@example.com`,
  name = 'New Person',
): OrganisationCommand => ({ type: 'AddUser', userId, email, name, role });

const issueKey = (
  role: Role,
  overrides: Partial<Extract<OrganisationCommand, { type: 'IssueApiKey' }>> = {},
): OrganisationCommand => ({
  type: 'IssueApiKey',
  apiKeyId: 'k-1',
  name: 'x',
  role,
  expiresAt: null,
  secretHash: HASH,
  ...overrides,
});

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
  data: {
    apiKeyId: `k-${role}`,
    name: `${role} key`,
    role,
    createdBy,
    expiresAt,
    secretHash: HASH,
  },
});

describe('organisation', () => {
  describe('creation', () => {
    it('is an operator’s act and makes the named user its owner, with email and name', () =>
      given([])
        .when(create(), system)
        .then([
          {
            type: 'OrganisationCreated',
            schemaVersion: 1,
            data: { organisationId: ORG, name: 'Acme' },
          },
          {
            type: 'UserAdded',
            schemaVersion: 1,
            data: { userId: 'u-1', email: 'ada@example.com', name: 'Ada', role: 'owner' },
          },
        ]));
    it('refuses a user', () => given([]).when(create(), owner).thenRefused('FORBIDDEN'));
    it('refuses a second creation', () =>
      given(created)
        .when(create({ name: 'Again' }), system)
        .thenRefused('ALREADY_EXISTS'));
    it('refuses a blank or over-long name', () => {
      given([])
        .when(create({ name: '  ' }), system)
        .thenRefused('VALIDATION_FAILED');
      given([])
        .when(create({ name: 'x'.repeat(201) }), system)
        .thenRefused('VALIDATION_FAILED');
    });
    it('accepts a name of exactly 200 characters', () =>
      expect(
        decideOrganisation(create({ name: 'x'.repeat(200) }), initialOrganisationState, {
          actor: system,
          now,
        }),
      ).toHaveLength(2));
    it('refuses a blank owner name', () =>
      given([])
        .when(create({ ownerName: ' ' }), system)
        .thenRefused('VALIDATION_FAILED'));
    it('refuses an owner email that is not normalised or not an address', () => {
      for (const ownerEmail of ['Ada@Example.com', 'ada', 'a b@example.com', '', 'a@b@c']) {
        given([]).when(create({ ownerEmail }), system).thenRefused('VALIDATION_FAILED');
      }
    });
    it('answers commands on a missing organisation with NOT_FOUND', () =>
      given([]).when(addUser('u-9', 'viewer'), owner).thenRefused('NOT_FOUND'));
  });

  describe('renaming the organisation', () => {
    it('is an owner’s act', () =>
      given(created)
        .when({ type: 'RenameOrganisation', name: 'Acme Ltd' }, owner)
        .then([{ type: 'OrganisationRenamed', schemaVersion: 1, data: { name: 'Acme Ltd' } }]));
    it('refuses an admin', () =>
      given(created)
        .when({ type: 'RenameOrganisation', name: 'Acme Ltd' }, admin)
        .thenRefused('FORBIDDEN'));
    it('decides nothing for the same name', () =>
      given(created).when({ type: 'RenameOrganisation', name: 'Acme' }, owner).then([]));
  });

  describe('members', () => {
    it('lets an admin add an editor, with email and name', () =>
      given(created)
        .when(addUser('u-new', 'editor', 'new@example.com', 'New Person'), admin)
        .then([
          {
            type: 'UserAdded',
            schemaVersion: 1,
            data: { userId: 'u-new', email: 'new@example.com', name: 'New Person', role: 'editor' },
          },
        ]));
    it('lets the system add a user (restore, CLI)', () =>
      given(created)
        .when(addUser('u-new', 'owner'), system)
        .then([added('u-new', 'owner', 'New Person')]));
    it('refuses an admin granting owner, on add and on change', () => {
      given(created).when(addUser('u-new', 'owner'), admin).thenRefused('FORBIDDEN');
      given(created)
        .when({ type: 'ChangeUserRole', userId: editor.id, role: 'owner' }, admin)
        .thenRefused('FORBIDDEN');
    });
    it('lets an owner grant owner', () =>
      given(created)
        .when({ type: 'ChangeUserRole', userId: editor.id, role: 'owner' }, owner)
        .then([
          {
            type: 'UserRoleChanged',
            schemaVersion: 1,
            data: { userId: editor.id, from: 'editor', to: 'owner' },
          },
        ]));
    it('refuses an admin removing an owner’s role or deactivating an owner', () => {
      given([...created, added('u-owner2', 'owner')])
        .when({ type: 'ChangeUserRole', userId: 'u-owner2', role: 'viewer' }, admin)
        .thenRefused('FORBIDDEN');
      given(created)
        .when({ type: 'DeactivateUser', userId: owner.id }, admin)
        .thenRefused('FORBIDDEN');
    });
    it('refuses an admin reactivating an owner', () =>
      given([
        ...created,
        added('u-owner2', 'owner'),
        { type: 'UserDeactivated', schemaVersion: 1, data: { userId: 'u-owner2' } },
      ])
        .when({ type: 'ReactivateUser', userId: 'u-owner2' }, admin)
        .thenRefused('FORBIDDEN'));
    it('refuses an editor managing users', () =>
      given(created).when(addUser('u-new', 'viewer'), editor).thenRefused('FORBIDDEN'));
    it('refuses adding an existing member, by id or by email', () => {
      given(created).when(addUser(editor.id, 'viewer'), owner).thenRefused('MEMBER_EXISTS');
      given(created)
        .when(addUser('u-other', 'viewer', `${editor.id}@example.com`), owner)
        .thenRefused('MEMBER_EXISTS');
    });
    it('refuses a deactivated member’s email too (reactivate instead)', () =>
      given([
        ...created,
        { type: 'UserDeactivated', schemaVersion: 1, data: { userId: editor.id } },
      ])
        .when(addUser('u-other', 'viewer', `${editor.id}@example.com`), owner)
        .thenRefused('MEMBER_EXISTS'));
    it('refuses a bad email or name on add', () => {
      for (const email of ['New@Example.com', 'no-at-sign', 'sp ace@example.com']) {
        given(created)
          .when(addUser('u-new', 'viewer', email), owner)
          .thenRefused('VALIDATION_FAILED');
      }
      for (const name of ['', '   ', ' padded', 'x'.repeat(201)]) {
        given(created)
          .when(addUser('u-new', 'viewer', 'new@example.com', name), owner)
          .thenRefused('VALIDATION_FAILED');
      }
    });
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
    it('lets an owner step down when another owner is active', () =>
      given([...created, added('u-owner2', 'owner')])
        .when({ type: 'ChangeUserRole', userId: owner.id, role: 'admin' }, owner)
        .then([
          {
            type: 'UserRoleChanged',
            schemaVersion: 1,
            data: { userId: owner.id, from: 'owner', to: 'admin' },
          },
        ]));
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
        .when({ type: 'DeactivateUser', userId: editor.id }, admin)
        .then([]);
      given([...created, deactivated])
        .when({ type: 'ReactivateUser', userId: editor.id }, admin)
        .then([{ type: 'UserReactivated', schemaVersion: 1, data: { userId: editor.id } }]);
      given(created).when({ type: 'ReactivateUser', userId: editor.id }, admin).then([]);
    });
    it('refuses a deactivated admin', () =>
      given([...created, { type: 'UserDeactivated', schemaVersion: 1, data: { userId: admin.id } }])
        .when(addUser('u-new', 'viewer'), admin)
        .thenRefused('FORBIDDEN'));
    it('answers an unknown user with NOT_FOUND', () => {
      given(created)
        .when({ type: 'DeactivateUser', userId: 'u-nobody' }, owner)
        .thenRefused('NOT_FOUND');
      given(created)
        .when({ type: 'RenameUser', userId: 'u-nobody', name: 'X' }, owner)
        .thenRefused('NOT_FOUND');
      given(created)
        .when({ type: 'ChangeUserRole', userId: 'u-nobody', role: 'viewer' }, owner)
        .thenRefused('NOT_FOUND');
    });
  });

  describe('renaming a member', () => {
    it('lets an admin rename an editor', () =>
      given(created)
        .when({ type: 'RenameUser', userId: editor.id, name: 'Eddie' }, admin)
        .then([
          { type: 'UserRenamed', schemaVersion: 1, data: { userId: editor.id, name: 'Eddie' } },
        ]));
    it('and the fold keeps the new name', () => {
      const state = [
        ...created,
        {
          type: 'UserRenamed',
          schemaVersion: 1,
          data: { userId: editor.id, name: 'Eddie' },
        } as OrganisationEvent,
      ].reduce(evolveOrganisation, initialOrganisationState);
      expect(state.status === 'active' && state.members.get(editor.id)?.name).toBe('Eddie');
    });
    it('refuses an admin renaming an owner', () =>
      given(created)
        .when({ type: 'RenameUser', userId: owner.id, name: 'Boss' }, admin)
        .thenRefused('FORBIDDEN'));
    it('lets an owner rename an owner', () =>
      given(created)
        .when({ type: 'RenameUser', userId: owner.id, name: 'Boss' }, owner)
        .then([
          { type: 'UserRenamed', schemaVersion: 1, data: { userId: owner.id, name: 'Boss' } },
        ]));
    it('refuses an editor, even renaming itself', () =>
      given(created)
        .when({ type: 'RenameUser', userId: editor.id, name: 'Eddie' }, editor)
        .thenRefused('FORBIDDEN'));
    it('refuses a blank name', () =>
      given(created)
        .when({ type: 'RenameUser', userId: editor.id, name: '  ' }, admin)
        .thenRefused('VALIDATION_FAILED'));
    it('decides nothing for the same name', () =>
      given(created)
        .when({ type: 'RenameUser', userId: editor.id, name: editor.id }, admin)
        .then([]));
  });

  describe('API keys', () => {
    it('lets an admin issue a key up to its own role', () =>
      given(created)
        .when(issueKey('editor', { name: 'CRM sync' }), admin)
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
              secretHash: HASH,
            },
          },
        ]));
    it('refuses a key above its creator’s role', () =>
      given(created).when(issueKey('owner'), admin).thenRefused('FORBIDDEN'));
    it('refuses an editor issuing keys at all', () =>
      given(created).when(issueKey('viewer'), editor).thenRefused('FORBIDDEN'));
    it('refuses the system issuing keys (a key needs a creator)', () =>
      given(created).when(issueKey('viewer'), system).thenRefused('FORBIDDEN'));
    it('refuses an expiry in the past or now', () => {
      given(created)
        .when(issueKey('viewer', { expiresAt: '2026-11-25T09:59:59Z' }), owner)
        .thenRefused('VALIDATION_FAILED');
      given(created)
        .when(issueKey('viewer', { expiresAt: '2026-11-25T10:00:00Z' }), owner)
        .thenRefused('VALIDATION_FAILED');
      given(created)
        .when(issueKey('viewer', { expiresAt: 'not a date' }), owner)
        .thenRefused('VALIDATION_FAILED');
    });
    it('accepts a future expiry', () =>
      expect(
        decideOrganisation(
          issueKey('viewer', { expiresAt: '2026-11-26T10:00:00Z' }),
          created.reduce(evolveOrganisation, initialOrganisationState),
          { actor: owner, now },
        ),
      ).toHaveLength(1));
    it('refuses a secret hash that is not a hex SHA-256', () => {
      for (const secretHash of ['', 'A'.repeat(64), 'a'.repeat(63), 'g'.repeat(64)]) {
        given(created)
          .when(issueKey('viewer', { secretHash }), owner)
          .thenRefused('VALIDATION_FAILED');
      }
    });
    it('refuses a blank key name', () =>
      given(created)
        .when(issueKey('viewer', { name: ' ' }), owner)
        .thenRefused('VALIDATION_FAILED'));
    it('refuses a key id already in use', () =>
      given([...created, issued('viewer', owner.id)])
        .when(issueKey('viewer', { apiKeyId: 'k-viewer' }), owner)
        .thenRefused('ALREADY_EXISTS'));
    it('refuses a key issuing keys', () =>
      given([...created, issued('admin', owner.id)])
        .when(issueKey('viewer', { apiKeyId: 'k-2' }), { type: 'api_key', id: 'k-admin' })
        .thenRefused('FORBIDDEN'));
    it('lets an admin key revoke a lesser key', () =>
      given([...created, issued('admin', owner.id), issued('viewer', admin.id)])
        .when({ type: 'RevokeApiKey', apiKeyId: 'k-viewer' }, { type: 'api_key', id: 'k-admin' })
        .then([{ type: 'ApiKeyRevoked', schemaVersion: 1, data: { apiKeyId: 'k-viewer' } }]));
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
    it('answers an unknown key with NOT_FOUND', () =>
      given(created)
        .when({ type: 'RevokeApiKey', apiKeyId: 'k-nobody' }, owner)
        .thenRefused('NOT_FOUND'));
  });
});
