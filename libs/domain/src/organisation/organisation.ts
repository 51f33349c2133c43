import {
  hasPermission,
  mayAssignRole,
  roleWithin,
  type Permission,
  type Role,
} from '../access/permissions';
import type { Actor } from '../shared/actor';
import { DomainError, forbidden } from '../shared/domain-error';
import type { OrganisationEvent } from './organisation.events';

export interface Member {
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  readonly active: boolean;
}

export interface ApiKey {
  readonly name: string;
  readonly role: Role;
  readonly createdBy: string;
  readonly expiresAt: string | null;
  readonly secretHash: string;
  readonly revoked: boolean;
}

export type OrganisationState =
  | { readonly status: 'none' }
  | {
      readonly status: 'active';
      readonly organisationId: string;
      readonly name: string;
      readonly members: ReadonlyMap<string, Member>;
      readonly apiKeys: ReadonlyMap<string, ApiKey>;
    };

export const initialOrganisationState: OrganisationState = { status: 'none' };

export function evolveOrganisation(
  state: OrganisationState,
  event: OrganisationEvent,
): OrganisationState {
  if (event.type === 'OrganisationCreated') {
    return {
      status: 'active',
      organisationId: event.data.organisationId,
      name: event.data.name,
      members: new Map(),
      apiKeys: new Map(),
    };
  }
  if (state.status !== 'active') return state;
  switch (event.type) {
    case 'OrganisationRenamed':
      return { ...state, name: event.data.name };
    case 'UserAdded':
      return {
        ...state,
        members: withEntry(state.members, event.data.userId, {
          email: event.data.email,
          name: event.data.name,
          role: event.data.role,
          active: true,
        }),
      };
    case 'UserRenamed':
      return {
        ...state,
        members: update(state.members, event.data.userId, (m) => ({ ...m, name: event.data.name })),
      };
    case 'UserRoleChanged':
      return {
        ...state,
        members: update(state.members, event.data.userId, (m) => ({ ...m, role: event.data.to })),
      };
    case 'UserDeactivated':
      return {
        ...state,
        members: update(state.members, event.data.userId, (m) => ({ ...m, active: false })),
      };
    case 'UserReactivated':
      return {
        ...state,
        members: update(state.members, event.data.userId, (m) => ({ ...m, active: true })),
      };
    case 'ApiKeyIssued': {
      const { apiKeyId, name, role, createdBy, expiresAt, secretHash } = event.data;
      return {
        ...state,
        apiKeys: withEntry(state.apiKeys, apiKeyId, {
          name,
          role,
          createdBy,
          expiresAt,
          secretHash,
          revoked: false,
        }),
      };
    }
    case 'ApiKeyRevoked':
      return {
        ...state,
        apiKeys: update(state.apiKeys, event.data.apiKeyId, (k) => ({ ...k, revoked: true })),
      };
  }
}

function withEntry<V>(map: ReadonlyMap<string, V>, key: string, value: V): ReadonlyMap<string, V> {
  return new Map(map).set(key, value);
}

function update<V>(
  map: ReadonlyMap<string, V>,
  key: string,
  change: (v: V) => V,
): ReadonlyMap<string, V> {
  const current = map.get(key);
  return current === undefined ? map : withEntry(map, key, change(current));
}

export type OrganisationCommand =
  | {
      readonly type: 'CreateOrganisation';
      readonly organisationId: string;
      readonly name: string;
      readonly ownerUserId: string;
      readonly ownerEmail: string;
      readonly ownerName: string;
    }
  | { readonly type: 'RenameOrganisation'; readonly name: string }
  | {
      readonly type: 'AddUser';
      readonly userId: string;
      readonly email: string;
      readonly name: string;
      readonly role: Role;
    }
  | { readonly type: 'RenameUser'; readonly userId: string; readonly name: string }
  | { readonly type: 'ChangeUserRole'; readonly userId: string; readonly role: Role }
  | { readonly type: 'DeactivateUser'; readonly userId: string }
  | { readonly type: 'ReactivateUser'; readonly userId: string }
  | {
      readonly type: 'IssueApiKey';
      readonly apiKeyId: string;
      readonly name: string;
      readonly role: Role;
      readonly expiresAt: string | null;
      readonly secretHash: string;
    }
  | { readonly type: 'RevokeApiKey'; readonly apiKeyId: string };

export interface DecisionContext {
  readonly actor: Actor;
  /** The clock, passed in so decisions stay pure. */
  readonly now: Date;
}

type Active = Extract<OrganisationState, { status: 'active' }>;

/** The actor's effective role in this organisation, from the organisation's own history. */
export function actorRole(state: OrganisationState, actor: Actor, now: Date): Role | undefined {
  if (state.status !== 'active') return undefined;
  if (actor.type === 'user') {
    const member = state.members.get(actor.id);
    return member?.active ? member.role : undefined;
  }
  if (actor.type === 'api_key') {
    const key = state.apiKeys.get(actor.id);
    if (
      !key ||
      key.revoked ||
      (key.expiresAt !== null && Date.parse(key.expiresAt) <= now.getTime())
    )
      return undefined;
    // A key acts with its own role, and never above what its creator may do now.
    const creator = state.members.get(key.createdBy);
    if (!creator?.active || !roleWithin(key.role, creator.role)) return undefined;
    return key.role;
  }
  return undefined;
}

function requirePermission(
  state: Active,
  context: DecisionContext,
  permission: Permission,
): Role | 'system' {
  if (context.actor.type === 'system') return 'system';
  const role = actorRole(state, context.actor, context.now);
  if (!role || !hasPermission(role, permission)) throw forbidden(`${permission} is needed`);
  return role;
}

function activeOwners(state: Active): number {
  let owners = 0;
  for (const m of state.members.values()) if (m.active && m.role === 'owner') owners += 1;
  return owners;
}

function member(state: Active, userId: string): Member {
  const found = state.members.get(userId);
  if (!found) throw new DomainError('NOT_FOUND', 'No such user in this organisation');
  return found;
}

const NAME = /^\S(?:.{0,198}\S)?$/su;
// Deliberately loose (the API normalises and validates addresses before they get here): one @, no
// spaces, lower case, at most 254 characters.
const EMAIL = /^[^\s@A-Z]{1,64}@[^\s@A-Z]{1,189}$/u;
const SECRET_HASH = /^[0-9a-f]{64}$/u;

function validName(name: string, what: string): void {
  if (!NAME.test(name)) throw new DomainError('VALIDATION_FAILED', `${what} is 1–200 characters`);
}

function validEmail(email: string): void {
  if (!EMAIL.test(email)) throw new DomainError('VALIDATION_FAILED', 'Not a normalised email');
}

/**
 * Decides what a command means for the organisation: the events to append, or a refusal. The
 * permission check here is the authoritative one; route guards only fail fast.
 */
export function decideOrganisation(
  command: OrganisationCommand,
  state: OrganisationState,
  context: DecisionContext,
): OrganisationEvent[] {
  if (command.type === 'CreateOrganisation') {
    if (state.status !== 'none')
      throw new DomainError('ALREADY_EXISTS', 'The organisation exists already');
    if (context.actor.type !== 'system') throw forbidden('Organisations are created by operators');
    validName(command.name, 'A name');
    validName(command.ownerName, 'A user’s name');
    validEmail(command.ownerEmail);
    return [
      {
        type: 'OrganisationCreated',
        schemaVersion: 1,
        data: { organisationId: command.organisationId, name: command.name },
      },
      {
        type: 'UserAdded',
        schemaVersion: 1,
        data: {
          userId: command.ownerUserId,
          email: command.ownerEmail,
          name: command.ownerName,
          role: 'owner',
        },
      },
    ];
  }
  if (state.status !== 'active') throw new DomainError('NOT_FOUND', 'No such organisation');

  switch (command.type) {
    case 'RenameOrganisation': {
      const role = requirePermission(state, context, 'users:manage');
      if (role !== 'system' && role !== 'owner')
        throw forbidden('Only an owner renames the organisation');
      validName(command.name, 'A name');
      if (command.name === state.name) return [];
      return [{ type: 'OrganisationRenamed', schemaVersion: 1, data: { name: command.name } }];
    }
    case 'AddUser': {
      const role = requirePermission(state, context, 'users:manage');
      if (role !== 'system' && !mayAssignRole(role, undefined, command.role))
        throw forbidden('Only an owner grants owner');
      validName(command.name, 'A user’s name');
      validEmail(command.email);
      for (const [id, m] of state.members) {
        if (id === command.userId || m.email === command.email)
          throw new DomainError('MEMBER_EXISTS', 'Already a member of this organisation');
      }
      const { userId, email, name } = command;
      return [
        { type: 'UserAdded', schemaVersion: 1, data: { userId, email, name, role: command.role } },
      ];
    }
    case 'RenameUser': {
      const role = requirePermission(state, context, 'users:manage');
      const target = member(state, command.userId);
      if (role !== 'system' && target.role === 'owner' && role !== 'owner')
        throw forbidden('Only an owner renames an owner');
      validName(command.name, 'A user’s name');
      if (target.name === command.name) return [];
      return [
        {
          type: 'UserRenamed',
          schemaVersion: 1,
          data: { userId: command.userId, name: command.name },
        },
      ];
    }
    case 'ChangeUserRole': {
      const role = requirePermission(state, context, 'users:manage');
      const target = member(state, command.userId);
      if (role !== 'system' && !mayAssignRole(role, target.role, command.role))
        throw forbidden('Only an owner grants or removes owner');
      if (target.role === command.role) return [];
      if (target.role === 'owner' && target.active && activeOwners(state) === 1) {
        throw new DomainError('LAST_OWNER', 'An organisation keeps at least one active owner');
      }
      return [
        {
          type: 'UserRoleChanged',
          schemaVersion: 1,
          data: { userId: command.userId, from: target.role, to: command.role },
        },
      ];
    }
    case 'DeactivateUser': {
      const role = requirePermission(state, context, 'users:manage');
      const target = member(state, command.userId);
      if (role !== 'system' && target.role === 'owner' && role !== 'owner')
        throw forbidden('Only an owner deactivates an owner');
      if (!target.active) return [];
      if (target.role === 'owner' && activeOwners(state) === 1) {
        throw new DomainError('LAST_OWNER', 'An organisation keeps at least one active owner');
      }
      return [{ type: 'UserDeactivated', schemaVersion: 1, data: { userId: command.userId } }];
    }
    case 'ReactivateUser': {
      const role = requirePermission(state, context, 'users:manage');
      const target = member(state, command.userId);
      if (role !== 'system' && target.role === 'owner' && role !== 'owner')
        throw forbidden('Only an owner reactivates an owner');
      if (target.active) return [];
      return [{ type: 'UserReactivated', schemaVersion: 1, data: { userId: command.userId } }];
    }
    case 'IssueApiKey': {
      const role = requirePermission(state, context, 'apikeys:manage');
      if (role === 'system' || context.actor.type !== 'user')
        throw forbidden('API keys are issued by users');
      if (!roleWithin(command.role, role))
        throw forbidden('A key never exceeds its creator’s role');
      validName(command.name, 'A name');
      if (!SECRET_HASH.test(command.secretHash))
        throw new DomainError('VALIDATION_FAILED', 'secretHash is a hex SHA-256');
      if (command.expiresAt !== null && !(Date.parse(command.expiresAt) > context.now.getTime())) {
        throw new DomainError('VALIDATION_FAILED', 'expiresAt must be in the future');
      }
      if (state.apiKeys.has(command.apiKeyId))
        throw new DomainError('ALREADY_EXISTS', 'Key id in use');
      return [
        {
          type: 'ApiKeyIssued',
          schemaVersion: 1,
          data: {
            apiKeyId: command.apiKeyId,
            name: command.name,
            role: command.role,
            createdBy: context.actor.id,
            expiresAt: command.expiresAt,
            secretHash: command.secretHash,
          },
        },
      ];
    }
    case 'RevokeApiKey': {
      const role = requirePermission(state, context, 'apikeys:manage');
      const key = state.apiKeys.get(command.apiKeyId);
      if (!key) throw new DomainError('NOT_FOUND', 'No such API key');
      if (role !== 'system' && !roleWithin(key.role, role))
        throw forbidden('Only an owner revokes an owner’s key');
      if (key.revoked) return [];
      return [{ type: 'ApiKeyRevoked', schemaVersion: 1, data: { apiKeyId: command.apiKeyId } }];
    }
  }
}
