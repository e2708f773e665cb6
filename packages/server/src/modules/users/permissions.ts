/**
 * What each console role may do, in one table. Every `/v1` route belongs to an area by its path;
 * a role holds a set of `<area>:read` (GET and HEAD) and `<area>:write` (everything else)
 * permissions. A route no area claims is `admin`'s: a new route is closed to every role but
 * owner and admin until it is placed here (routes.test.ts checks every route of the API is).
 */
export const Roles = ['owner', 'admin', 'support', 'finance', 'viewer'] as const;
export type Role = (typeof Roles)[number];

export const Areas = [
  'catalog',
  'customers',
  'usage',
  'check',
  'reports',
  'audit',
  'webhooks',
  'admin',
  // A user's own session: every role signs out and reads who it is.
  'self',
] as const;
export type Area = (typeof Areas)[number];
export type Permission = `${Area}:${'read' | 'write'}`;

/** Route path prefixes and the area they belong to; the longest matching prefix wins. */
const areaPrefixes: readonly (readonly [string, Area])[] = [
  ['/v1/sessions', 'self'],
  // Used with a one-time link, without signing in (anonymous routes).
  ['/v1/invitations', 'self'],
  ['/v1/password-resets', 'self'],
  ['/v1/setup', 'self'],
  ['/v1/features', 'catalog'],
  ['/v1/plans', 'catalog'],
  ['/v1/contracts', 'customers'],
  ['/v1/customers', 'customers'],
  ['/v1/customers/:id/entitlements', 'check'],
  ['/v1/customers/:id/usage', 'usage'],
  ['/v1/customers/:id/export', 'customers'],
  ['/v1/subscriptions', 'customers'],
  ['/v1/grants', 'customers'],
  ['/v1/customer-tokens', 'customers'],
  ['/v1/portal-sessions', 'customers'],
  // The customer portal's own routes: a portal session opens them, never a console session.
  ['/v1/portal', 'customers'],
  ['/v1/check', 'check'],
  ['/v1/stream', 'check'],
  ['/ofrep', 'check'],
  ['/v1/events', 'usage'],
  ['/v1/consume', 'usage'],
  ['/v1/reservations', 'usage'],
  ['/v1/gauges', 'usage'],
  ['/v1/reports', 'reports'],
  ['/v1/audit-events', 'audit'],
  ['/v1/decisions', 'audit'],
  ['/v1/webhook-endpoints', 'webhooks'],
  ['/v1/webhook-deliveries', 'webhooks'],
  ['/v1/alert-rules', 'webhooks'],
  ['/v1/api-keys', 'admin'],
  ['/v1/users', 'admin'],
  ['/v1/integrations', 'admin'],
  ['/v1/test-clock', 'admin'],
  ['/v1/metrics', 'admin'],
];

/** The area the table places a route in (`/v1/customers/:id/grants`), or undefined. */
export function placedArea(route: string): Area | undefined {
  let best: readonly [string, Area] | undefined;
  for (const entry of areaPrefixes) {
    const [prefix] = entry;
    if ((route === prefix || route.startsWith(`${prefix}/`)) && (!best || prefix.length > best[0].length)) best = entry;
  }
  return best?.[1];
}

/** The area of a route: where the table places it, else `admin` (closed to the other roles). */
export function areaOf(route: string): Area {
  return placedArea(route) ?? 'admin';
}

const reads = (...areas: Area[]): Permission[] => areas.map((area) => `${area}:read` as const);
const writes = (...areas: Area[]): Permission[] => areas.map((area) => `${area}:write` as const);
const everything: Permission[] = [...reads(...Areas), ...writes(...Areas)];
const readsButAdmin: Permission[] = [
  ...reads('catalog', 'customers', 'usage', 'check', 'webhooks', 'self'),
  ...writes('self'),
];

/**
 * owner and admin: everything (only an owner may make or unmake owners, see the user service).
 * support: customers, their subscriptions, grants and notifications; reads the catalog and usage.
 * finance: reports (and storing them) and the audit trail; reads everything else. viewer: reads, without reports,
 * the audit trail or the people and keys.
 */
export const rolePermissions: Readonly<Record<Role, ReadonlySet<Permission>>> = {
  owner: new Set(everything),
  admin: new Set(everything),
  support: new Set([...readsButAdmin, ...writes('customers')]),
  finance: new Set([...readsButAdmin, ...reads('reports', 'audit'), ...writes('reports')]),
  viewer: new Set(readsButAdmin),
};

/**
 * The permission a request needs: its route's area, read for GET and HEAD, write otherwise — but
 * a check (`POST /v1/check`, OFREP's evaluations) only reads, whatever its method.
 */
export function permissionFor(method: string, route: string): Permission {
  const area = areaOf(route);
  return `${area}:${area === 'check' || method === 'GET' || method === 'HEAD' ? 'read' : 'write'}`;
}

export function allows(role: Role, method: string, route: string): boolean {
  return rolePermissions[role].has(permissionFor(method, route));
}
