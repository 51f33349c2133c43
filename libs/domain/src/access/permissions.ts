/**
 * Roles and what they may do, as data (API.md, "Roles and permissions"). The API's route metadata,
 * the command handlers' authoritative checks and `GET /v1/me` all read this one table.
 */
export const ROLES = ['owner', 'admin', 'editor', 'viewer', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'contacts:read',
  'contacts:write',
  'contacts:erase',
  'audit:read',
  'users:manage',
  'apikeys:manage',
  'data:restore',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  owner: PERMISSIONS, // everything, restore included
  admin: [
    'contacts:read',
    'contacts:write',
    'contacts:erase',
    'audit:read',
    'users:manage',
    'apikeys:manage',
  ],
  editor: ['contacts:read', 'contacts:write'],
  viewer: ['contacts:read'],
  auditor: ['contacts:read', 'audit:read'],
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function hasPermission(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}

/** True when every permission of `granted` is also one of `grantor`'s: a key never exceeds its creator. */
export function roleWithin(granted: Role, grantor: Role): boolean {
  return ROLE_PERMISSIONS[granted].every((p) => ROLE_PERMISSIONS[grantor].includes(p));
}

/** Only an owner may make someone an owner or change what an owner is. */
export function mayAssignRole(actorRole: Role, from: Role | undefined, to: Role): boolean {
  if (!hasPermission(actorRole, 'users:manage')) return false;
  if (actorRole === 'owner') return true;
  return to !== 'owner' && from !== 'owner';
}
