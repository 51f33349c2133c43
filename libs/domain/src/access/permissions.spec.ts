import {
  ROLES,
  hasPermission,
  mayAssignRole,
  roleWithin,
  type Permission,
  type Role,
} from './permissions';

// The table of API.md, written out again on purpose: a change to either must be deliberate.
const expected: Record<Permission, readonly Role[]> = {
  'contacts:read': ['owner', 'admin', 'editor', 'viewer', 'auditor'],
  'contacts:write': ['owner', 'admin', 'editor'],
  'contacts:erase': ['owner', 'admin'],
  'audit:read': ['owner', 'admin', 'auditor'],
  'users:manage': ['owner', 'admin'],
  'apikeys:manage': ['owner', 'admin'],
  'data:restore': ['owner'],
};

describe('permissions', () => {
  it.each(Object.entries(expected))('%s is held by exactly %j', (permission, roles) => {
    const holders = ROLES.filter((role) => hasPermission(role, permission as Permission));
    expect(holders).toEqual(roles);
  });

  it('keeps a granted role within its grantor: admins cannot mint owners, editors nothing above themselves', () => {
    expect(roleWithin('owner', 'owner')).toBe(true);
    expect(roleWithin('owner', 'admin')).toBe(false);
    expect(roleWithin('admin', 'admin')).toBe(true);
    expect(roleWithin('auditor', 'editor')).toBe(false); // audit:read is not the editor's to give
    expect(roleWithin('viewer', 'auditor')).toBe(true);
  });

  it('lets only an owner grant or remove the owner role', () => {
    expect(mayAssignRole('owner', 'editor', 'owner')).toBe(true);
    expect(mayAssignRole('owner', 'owner', 'viewer')).toBe(true);
    expect(mayAssignRole('admin', 'editor', 'owner')).toBe(false);
    expect(mayAssignRole('admin', 'owner', 'viewer')).toBe(false);
    expect(mayAssignRole('admin', 'viewer', 'admin')).toBe(true);
    expect(mayAssignRole('admin', undefined, 'editor')).toBe(true);
    expect(mayAssignRole('editor', 'viewer', 'viewer')).toBe(false);
  });
});
