import { DomainError, type OrganisationState, type Role } from '@beecastle/domain';

/** A member as the API shows it (GET /v1/users, PATCH /v1/users/{id}). */
export interface UserView {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly role: Role;
  readonly status: 'active' | 'deactivated';
}

export function userView(state: OrganisationState, userId: string): UserView {
  const member = state.status === 'active' ? state.members.get(userId) : undefined;
  if (!member) throw new DomainError('NOT_FOUND', 'No such user in this organisation');
  const { email, name, role } = member;
  return { id: userId, email, name, role, status: member.active ? 'active' : 'deactivated' };
}
