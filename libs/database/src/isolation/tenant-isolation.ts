import type { ClientBase } from 'pg';

/**
 * Reads the catalogue and reports every way a table holding an organisation column could show or
 * take another organisation's rows through the application role. Written against the catalogue
 * rather than a list of tables so that every tenant table a later migration adds is covered.
 */

/** Columns that make a relation tenant data. */
export const ORGANISATION_COLUMNS = ['org_id', 'organisation_id'] as const;

export interface IsolationRules {
  /** The roles the application connects as (login roles and the group they join). */
  readonly applicationRoles: readonly string[];
  /** Relations with an organisation column deliberately not under row-level security, and why. */
  readonly exemptFromRowSecurity: Readonly<Record<string, string>>;
  /**
   * Permissive policies (`relation.policy`) that admit rows beyond the transaction's organisation
   * by design, and why. They may only grant SELECT.
   */
  readonly widerReadPolicies: Readonly<Record<string, string>>;
  /** Relations the application may only append to. */
  readonly appendOnly: readonly string[];
}

export interface IsolationViolation {
  /** `relation`, `schema.relation` outside public, or `role <name>`. */
  readonly subject: string;
  readonly problem: string;
}

export interface TenantRelation {
  readonly name: string;
  readonly kind: string;
  readonly organisationColumn: string;
  readonly rowSecurity: boolean;
  readonly forceRowSecurity: boolean;
  readonly owner: string;
  /** The owner is an application role or one it is a member of (and so could alter the table). */
  readonly ownedByApplication: boolean;
  /** Privileges of any application role that escape row-level security (TRUNCATE, TRIGGER). */
  readonly escapingPrivileges: readonly string[];
  /** Any application role may read it (only matters where policies cannot exist). */
  readonly readableByApplication: boolean;
}

interface PolicyRow {
  relation: string;
  name: string;
  command: string;
  permissive: boolean;
  using: string | null;
  check: string | null;
  appliesToApplication: boolean;
}

// Schemas the product can own objects in: everything but the system's and sessions' temporary ones.
const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`;
const RELATION_NAME = `CASE WHEN n.nspname = 'public' THEN c.relname
  ELSE n.nspname || '.' || c.relname END`;

/** Every relation (table, partition, materialized view, foreign table) with an organisation column. */
export async function listTenantRelations(
  client: ClientBase,
  applicationRoles: readonly string[],
): Promise<TenantRelation[]> {
  const { rows } = await client.query<TenantRelation>(
    `SELECT ${RELATION_NAME} AS name,
            c.relkind AS kind,
            a.attname AS "organisationColumn",
            c.relrowsecurity AS "rowSecurity",
            c.relforcerowsecurity AS "forceRowSecurity",
            pg_get_userbyid(c.relowner) AS owner,
            EXISTS (SELECT 1 FROM unnest($2::text[]) app
                    WHERE pg_has_role(app, c.relowner, 'MEMBER')) AS "ownedByApplication",
            ARRAY(SELECT DISTINCT p FROM unnest($2::text[]) app, unnest(ARRAY['TRUNCATE', 'TRIGGER']) p
                  WHERE has_table_privilege(app, c.oid, p) ORDER BY p) AS "escapingPrivileges",
            EXISTS (SELECT 1 FROM unnest($2::text[]) app
                    WHERE has_table_privilege(app, c.oid, 'SELECT')
                       OR has_any_column_privilege(app, c.oid, 'SELECT')) AS "readableByApplication"
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE ${USER_SCHEMAS}
        AND c.relkind IN ('r', 'p', 'm', 'f')
        AND a.attname = ANY($1::text[])
      ORDER BY 1`,
    [ORGANISATION_COLUMNS, applicationRoles],
  );
  return rows;
}

/** The tenant relations that must be under row-level security: all but the exempt ones. */
export async function listRowSecuredTables(
  client: ClientBase,
  rules: IsolationRules,
): Promise<string[]> {
  const relations = await listTenantRelations(client, rules.applicationRoles);
  return relations.map((r) => r.name).filter((name) => !(name in rules.exemptFromRowSecurity));
}

export async function findIsolationViolations(
  client: ClientBase,
  rules: IsolationRules,
): Promise<IsolationViolation[]> {
  const violations: IsolationViolation[] = [];
  const flag = (subject: string, problem: string) => violations.push({ subject, problem });

  await checkApplicationRoles(client, rules, flag);

  const relations = await listTenantRelations(client, rules.applicationRoles);
  const policies = await readPolicies(client, rules.applicationRoles);
  const names = new Set(relations.map((r) => r.name));

  for (const name of Object.keys(rules.exemptFromRowSecurity)) {
    if (!names.has(name)) flag(name, 'is exempt from row-level security but no longer exists');
  }
  for (const key of Object.keys(rules.widerReadPolicies)) {
    if (!policies.some((p) => `${p.relation}.${p.name}` === key)) {
      flag(key, 'is listed as a wider read policy but no longer exists');
    }
  }

  for (const relation of relations) {
    const flagHere = (problem: string) => flag(relation.name, problem);
    if (relation.ownedByApplication) {
      flagHere(`is owned by ${relation.owner}, a role the application can act as`);
    }
    for (const privilege of relation.escapingPrivileges) {
      flagHere(`grants ${privilege} to the application, which row-level security does not cover`);
    }
    if (relation.name in rules.exemptFromRowSecurity) {
      if (relation.rowSecurity) {
        flagHere('is under row-level security now: take it off the exemption list');
      }
      continue;
    }
    if (relation.kind === 'm' || relation.kind === 'f') {
      // Materialized views and foreign tables cannot have policies: the application must not read them.
      if (relation.readableByApplication) {
        flagHere('cannot have row-level security but the application may read it');
      }
      continue;
    }
    if (!relation.rowSecurity) flagHere('does not have row-level security enabled');
    if (!relation.forceRowSecurity) flagHere('does not have row-level security forced');
    checkPolicies(
      relation,
      policies.filter((p) => p.relation === relation.name),
      rules,
      flagHere,
    );
  }

  await checkAppendOnly(client, rules, flag);
  return violations;
}

function checkPolicies(
  relation: TenantRelation,
  policies: PolicyRow[],
  rules: IsolationRules,
  flag: (problem: string) => void,
): void {
  const column = relation.organisationColumn;
  const isOrganisationPolicy = (p: PolicyRow) =>
    scopesToOrganisation(p.using, column) &&
    (p.check === null || scopesToOrganisation(p.check, column));
  const organisationPolicy = policies.find(
    (p) => p.permissive && p.command === '*' && p.appliesToApplication && isOrganisationPolicy(p),
  );
  if (!organisationPolicy) {
    flag(`has no policy for all commands admitting only ${column} = app_org_id()`);
  }
  // Permissive policies add up (OR): one more that admits anything else widens the table.
  for (const policy of policies) {
    if (!policy.permissive || !policy.appliesToApplication || isOrganisationPolicy(policy))
      continue;
    const key = `${relation.name}.${policy.name}`;
    if (!(key in rules.widerReadPolicies)) {
      flag(`policy ${policy.name} admits rows beyond ${column} = app_org_id()`);
    } else if (policy.command !== 'r') {
      flag(`policy ${policy.name} is a wider read policy but applies to more than SELECT`);
    }
  }
}

/** Exactly `<column> = app_org_id()`, in either order, as pg_get_expr prints it. */
function scopesToOrganisation(expression: string | null, column: string): boolean {
  if (expression === null) return false;
  const bare = expression.replace(/[\s()]/g, '').replace(/\bpublic\./g, '');
  return bare === `${column}=app_org_id` || bare === `app_org_id=${column}`;
}

async function readPolicies(
  client: ClientBase,
  applicationRoles: readonly string[],
): Promise<PolicyRow[]> {
  const { rows } = await client.query<PolicyRow>(
    `SELECT ${RELATION_NAME} AS relation,
            p.polname AS name,
            p.polcmd AS command,
            p.polpermissive AS permissive,
            pg_get_expr(p.polqual, p.polrelid) AS using,
            pg_get_expr(p.polwithcheck, p.polrelid) AS check,
            EXISTS (SELECT 1 FROM unnest(p.polroles) r, unnest($1::text[]) app
                    WHERE r = 0 OR pg_has_role(app, r, 'MEMBER')) AS "appliesToApplication"
       FROM pg_policy p
       JOIN pg_class c ON c.oid = p.polrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace`,
    [applicationRoles],
  );
  return rows;
}

async function checkApplicationRoles(
  client: ClientBase,
  rules: IsolationRules,
  flag: (subject: string, problem: string) => void,
): Promise<void> {
  // Every role an application role is a member of counts: SET ROLE would give its attributes.
  const { rows } = await client.query<{
    app: string;
    role: string | null;
    rolsuper: boolean;
    rolbypassrls: boolean;
  }>(
    `SELECT app, r.rolname AS role, r.rolsuper, r.rolbypassrls
       FROM unnest($1::text[]) app
       LEFT JOIN pg_roles r
         ON EXISTS (SELECT 1 FROM pg_roles me WHERE me.rolname = app)
        AND pg_has_role(app, r.oid, 'MEMBER')`,
    [rules.applicationRoles],
  );
  for (const row of rows) {
    if (row.role === null) {
      flag(`role ${row.app}`, 'does not exist');
      continue;
    }
    const via = row.role === row.app ? '' : ` through membership of ${row.role}`;
    if (row.rolsuper) flag(`role ${row.app}`, `is a superuser${via}`);
    if (row.rolbypassrls) flag(`role ${row.app}`, `has BYPASSRLS${via}`);
  }
}

async function checkAppendOnly(
  client: ClientBase,
  rules: IsolationRules,
  flag: (subject: string, problem: string) => void,
): Promise<void> {
  const { rows } = await client.query<{ relation: string; exists: boolean; privileges: string[] }>(
    `SELECT t AS relation,
            to_regclass(t) IS NOT NULL AS exists,
            CASE WHEN to_regclass(t) IS NULL THEN '{}'::text[] ELSE ARRAY(
              SELECT DISTINCT p FROM unnest($2::text[]) app, unnest(ARRAY['UPDATE', 'DELETE', 'TRUNCATE']) p
               WHERE has_table_privilege(app, to_regclass(t), p)
                  OR (p = 'UPDATE' AND has_any_column_privilege(app, to_regclass(t), p))
               ORDER BY p) END AS privileges
       FROM unnest($1::text[]) t`,
    [rules.appendOnly, rules.applicationRoles],
  );
  for (const row of rows) {
    if (!row.exists) flag(row.relation, 'is listed as append-only but does not exist');
    for (const privilege of row.privileges) {
      flag(row.relation, `is append-only but the application has ${privilege}`);
    }
  }
}
